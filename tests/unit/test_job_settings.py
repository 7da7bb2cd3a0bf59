"""Job settings checked against Databricks' documented limits, so a job that a local workspace takes is not refused
when deployed to Databricks."""

from __future__ import annotations

import pytest

from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.jobs.settings import MAX_JOB_NAME_BYTES, MAX_JOB_TAGS, validate_settings

CLUSTER = "0101-000000-odoolake"


def test_a_job_has_at_most_25_tags_and_a_name_of_4096_bytes():
    validate_settings({"name": "n" * MAX_JOB_NAME_BYTES, "tags": {f"t{i}": "" for i in range(MAX_JOB_TAGS)}}, CLUSTER)
    with pytest.raises(InvalidParameterValue, match="Invalid tags: a job has at most 25 tags, got 26"):
        validate_settings({"tags": {f"t{i}": "" for i in range(MAX_JOB_TAGS + 1)}}, CLUSTER)
    with pytest.raises(InvalidParameterValue, match="Invalid name: at most 4096 bytes, got 4098"):
        validate_settings({"name": "é" * 2049}, CLUSTER)  # two bytes each in UTF-8
    with pytest.raises(InvalidParameterValue, match="Invalid tags: expected an object of strings"):
        validate_settings({"tags": ["finance"]}, CLUSTER)
