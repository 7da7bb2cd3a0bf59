from . import bir_schedule, res_config_settings
