{{ stage_parsed_indicator_observations(source('wide_table', 'observations')) }}
