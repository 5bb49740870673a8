{{ stage_parsed_indicator_observations(source('sdmx_csv', 'observations')) }}
