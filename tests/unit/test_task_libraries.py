"""A task's libraries checked against the local environment (workspace/jobs/libraries.py): what it holds is used,
what it does not hold fails the task naming the library and how to install it."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

from odoolake.workspace.jobs.libraries import missing

HELD = importlib.metadata.version("pyyaml")


@pytest.mark.parametrize("libraries", [
    None, [],
    [{"pypi": {"package": "pyyaml"}}],
    [{"pypi": {"package": f"PyYAML=={HELD}"}}],  # names compare canonically
    [{"pypi": {"package": "pyyaml>=1"}}, {"whl": "/Workspace/Shared/.bundle/x/odoolake-0.1.0-py3-none-any.whl"}],
])
def test_libraries_the_environment_holds_are_used(libraries):
    assert missing(libraries) is None


@pytest.mark.parametrize("libraries, message", [
    ([{"pypi": {"package": "emoji==2.12.1"}}], r"library emoji==2\.12\.1 is not in the local workspace's Python "
                                               r"environment \(it is not installed\); install it there: .* -m pip "
                                               r"install 'emoji==2\.12\.1'"),
    ([{"pypi": {"package": "pyyaml<1"}}], rf"pyyaml<1 is not in .* \({HELD} is installed\)"),
    ([{"pypi": {"package": "not a requirement!"}}], "is not a package requirement"),
    ([{"whl": "dbfs:/libs/nowhere_pkg-1.0-py3-none-any.whl"}], r"wheel .*nowhere_pkg-1\.0.* is not installed"),
    ([{"jar": "dbfs:/libs/x.jar"}], "jar library 'dbfs:/libs/x.jar' cannot be used by the local workspace"),
    ([{"maven": {"coordinates": "a:b:1"}}], "maven library"),
    ([{"requirements": "/Workspace/req.txt"}], "requirements file '/Workspace/req.txt' is not installed"),
])
def test_a_library_the_environment_lacks_is_named_with_its_fix(libraries, message):
    problem = missing(libraries)
    assert problem is not None and re.search(message, problem), problem
