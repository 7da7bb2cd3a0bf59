from . import test_bir_schedule
