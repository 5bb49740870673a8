{{ stage_parsed_indicator_observations(source('gtfs', 'observations')) }}
