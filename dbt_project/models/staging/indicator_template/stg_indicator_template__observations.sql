{{ stage_parsed_indicator_observations(source('indicator_template', 'observations')) }}
