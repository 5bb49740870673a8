{{ stage_parsed_air_measurements(source('openaq_air', 'measurements')) }}
