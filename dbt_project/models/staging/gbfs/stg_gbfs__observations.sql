{{ stage_parsed_indicator_observations(source('gbfs', 'observations')) }}
