"""Session configuration a SQL client sends when it opens a session: what reaches the engine, what is refused."""

from __future__ import annotations

import pytest

from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.sql.sessions import engine_settings


def test_short_names_map_to_spark_settings_and_labels_and_wire_settings_stay_out():
    assert engine_settings({"TIMEZONE": "Asia/Manila", "ansi_mode": "false", "spark.sql.shuffle.partitions": 4,
                            "QUERY_TAGS": "dbt_model:monthly_remittance", "spark.thriftserver.arrowBasedRowSet": "1"}
                           ) == {"spark.sql.session.timeZone": "Asia/Manila", "spark.sql.ansi.enabled": "false",
                                 "spark.sql.shuffle.partitions": "4"}


def test_an_unknown_parameter_is_refused_naming_it_and_the_accepted_ones():
    with pytest.raises(InvalidParameterValue, match=r"Configuration STATEMENT_TIMOUT is not available: .*TIMEZONE"):
        engine_settings({"STATEMENT_TIMOUT": "10"})
