{{ stage_parsed_air_measurements(source('eea_air', 'measurements')) }}
