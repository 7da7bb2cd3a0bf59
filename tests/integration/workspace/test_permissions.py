"""Job and pipeline permissions through the official SDK: a developer changes, runs or stops only the jobs and
pipelines they were granted, a job runs as another user only when an admin says so, the Permissions API keeps the
access control list, and a bundle's ``permissions`` are set on what it deploys."""

from __future__ import annotations

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotImplemented, PermissionDenied
from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel
from databricks.sdk.service.jobs import (
    JobAccessControlRequest,
    JobPermissionLevel,
    JobRunAs,
    JobSettings,
    NotebookTask,
    Task,
)
from databricks.sdk.service.pipelines import (
    NotebookLibrary,
    PipelineAccessControlRequest,
    PipelineLibrary,
    PipelinePermissionLevel,
)

from odoolake.testing.waiting import wait_until

from .test_roles import _token

TASKS = [Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/no-such-notebook"))]


def _levels(perms) -> dict[str, list[str]]:
    return {(e.user_name or e.service_principal_name or e.group_name): [p.permission_level.value
                                                                     for p in e.all_permissions]
            for e in perms.access_control_list}


@pytest.fixture(scope="module")
def developer(server) -> WorkspaceClient:
    return WorkspaceClient(host=server.url, token=_token(server, "perm-dev@example.ph", "developer"))


def test_a_developer_changes_runs_and_stops_only_what_they_were_granted(server, w, developer):
    job_id = w.jobs.create(name="owned by the admin", tasks=TASKS).job_id
    assert developer.jobs.get(job_id).settings.name == "owned by the admin"  # every user sees every job
    with pytest.raises(PermissionDenied, match=rf"perm-dev@example.ph may not edit job {job_id}: that needs "
                                               r"CAN_MANAGE"):
        developer.jobs.update(job_id, new_settings=JobSettings(name="taken over"))
    with pytest.raises(PermissionDenied, match="needs CAN_MANAGE"):
        developer.jobs.reset(job_id, new_settings=JobSettings(name="taken over", tasks=TASKS))
    with pytest.raises(PermissionDenied, match=rf"may not delete job {job_id}"):
        developer.jobs.delete(job_id)
    with pytest.raises(PermissionDenied, match=rf"may not run job {job_id}: that needs CAN_MANAGE_RUN"):
        developer.jobs.run_now(job_id)
    with pytest.raises(PermissionDenied, match="may not change the permissions of"):
        developer.jobs.update_permissions(str(job_id), access_control_list=[JobAccessControlRequest(
            user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.CAN_MANAGE)])
    assert w.jobs.get(job_id).settings.name == "owned by the admin"  # nothing a refused call tried was kept

    run = w.jobs.run_now(job_id)
    with pytest.raises(PermissionDenied, match=rf"may not cancel run {run.run_id} of job {job_id}"):
        developer.jobs.cancel_run(run.run_id)
    with pytest.raises(PermissionDenied, match="may not cancel the runs of"):
        developer.jobs.cancel_all_runs(job_id=job_id)

    w.jobs.update_permissions(str(job_id), access_control_list=[JobAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.CAN_MANAGE_RUN)])
    developer.jobs.cancel_run(run.run_id)
    second = developer.jobs.run_now(job_id)
    developer.jobs.cancel_all_runs(job_id=job_id)
    assert developer.jobs.get_run(second.run_id).job_id == job_id
    with pytest.raises(PermissionDenied, match="needs CAN_MANAGE"):
        developer.jobs.update(job_id, new_settings=JobSettings(name="taken over"))

    w.jobs.update_permissions(str(job_id), access_control_list=[JobAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.CAN_MANAGE)])
    developer.jobs.update(job_id, new_settings=JobSettings(name="renamed by a manager"))
    assert w.jobs.get(job_id).settings.name == "renamed by a manager"
    developer.jobs.delete(job_id)


def test_a_developer_cannot_make_a_job_run_as_another_user(server, w, developer):
    owner = w.current_user.me().user_name
    robot = "perm-robot@example.ph"
    server.workspace.roles.set_role(robot, "service_principal")
    with pytest.raises(PermissionDenied, match=rf"may set run_as only to themselves or to a service principal, not "
                                               rf"to the user {owner}"):
        developer.jobs.create(name="as the admin", tasks=TASKS, run_as=JobRunAs(user_name=owner))
    assert not [j for j in w.jobs.list(name="as the admin")]
    mine = developer.jobs.create(name="as a robot", tasks=TASKS, run_as=JobRunAs(service_principal_name=robot))
    assert developer.jobs.get(mine.job_id).run_as_user_name == robot
    with pytest.raises(PermissionDenied, match="may set run_as only to themselves"):
        developer.jobs.update(mine.job_id, new_settings=JobSettings(run_as=JobRunAs(user_name=owner)))
    developer.jobs.update(mine.job_id, new_settings=JobSettings(run_as=JobRunAs(user_name="perm-dev@example.ph")))
    # an admin may; a manager who keeps the run_as they found is not asked again
    theirs = w.jobs.create(name="run as the developer", tasks=TASKS, run_as=JobRunAs(user_name=owner))
    w.jobs.update_permissions(str(theirs.job_id), access_control_list=[JobAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.CAN_MANAGE)])
    developer.jobs.reset(theirs.job_id, new_settings=JobSettings(name="kept run_as", tasks=TASKS,
                                                                 run_as=JobRunAs(user_name=owner)))
    for job_id in (mine.job_id, theirs.job_id):
        w.jobs.delete(job_id)


def test_the_permissions_api_keeps_a_jobs_access_control_list(server, w, developer):
    owner = w.current_user.me().user_name
    job_id = str(w.jobs.create(name="acl", tasks=TASKS, access_control_list=[JobAccessControlRequest(
        group_name="users", permission_level=JobPermissionLevel.CAN_VIEW)]).job_id)
    perms = w.jobs.get_permissions(job_id)
    assert (perms.object_id, perms.object_type) == (f"/jobs/{job_id}", "job")
    assert _levels(perms) == {owner: ["IS_OWNER"], "users": ["CAN_VIEW"], "admins": ["CAN_MANAGE"]}
    assert perms.access_control_list[-1].all_permissions[0].inherited

    w.jobs.set_permissions(job_id, access_control_list=[JobAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.CAN_MANAGE_RUN)])
    assert _levels(w.jobs.get_permissions(job_id)) == {owner: ["IS_OWNER"], "perm-dev@example.ph": ["CAN_MANAGE_RUN"],
                                                       "admins": ["CAN_MANAGE"]}  # PUT replaced the group's grant
    generic = w.permissions.get("jobs", job_id)
    assert _levels(generic) == _levels(w.jobs.get_permissions(job_id))
    levels = [lv.permission_level.value for lv in w.jobs.get_permission_levels(job_id).permission_levels]
    assert levels == ["CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"]

    before = _levels(w.jobs.get_permissions(job_id))
    with pytest.raises(BadRequest, match="permission_level 'CAN_RUN'"):
        w.permissions.update("jobs", job_id, access_control_list=[AccessControlRequest(
            user_name="perm-dev@example.ph", permission_level=PermissionLevel.CAN_RUN)])
    with pytest.raises(BadRequest, match=r"ghost@example\.ph is not a user or service principal"):
        w.jobs.update_permissions(job_id, access_control_list=[JobAccessControlRequest(
            user_name="ghost@example.ph", permission_level=JobPermissionLevel.CAN_VIEW)])
    with pytest.raises(BadRequest, match="cannot own a job"):
        w.jobs.update_permissions(job_id, access_control_list=[JobAccessControlRequest(
            group_name="users", permission_level=JobPermissionLevel.IS_OWNER)])
    assert _levels(w.jobs.get_permissions(job_id)) == before

    # an admin gives the job away: the developer owns it, the admin keeps CAN_MANAGE
    w.jobs.update_permissions(job_id, access_control_list=[JobAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.IS_OWNER)])
    assert _levels(w.jobs.get_permissions(job_id)) == {"perm-dev@example.ph": ["IS_OWNER"], owner: ["CAN_MANAGE"],
                                                       "admins": ["CAN_MANAGE"]}
    with pytest.raises(PermissionDenied, match="Only a workspace admin may make"):
        developer.jobs.update_permissions(job_id, access_control_list=[JobAccessControlRequest(
            user_name=owner, permission_level=JobPermissionLevel.IS_OWNER)])
    developer.jobs.delete(int(job_id))
    with pytest.raises(BadRequest, match=f"Job {job_id} does not exist"):
        w.jobs.get_permissions(job_id)


def test_a_developer_starts_only_the_pipelines_they_were_granted(server, w, developer):
    pipeline_id = w.pipelines.create(name="admin's pipeline", target="perm_dlt", libraries=[
        PipelineLibrary(notebook=NotebookLibrary(path="/Shared/no-such-pipeline-notebook"))]).pipeline_id
    with pytest.raises(PermissionDenied, match=f"may not start an update of pipeline {pipeline_id}: that needs "
                                               f"CAN_RUN"):
        developer.pipelines.start_update(pipeline_id)
    with pytest.raises(PermissionDenied, match="needs CAN_MANAGE"):
        developer.pipelines.delete(pipeline_id)
    w.pipelines.update_permissions(pipeline_id, access_control_list=[PipelineAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=PipelinePermissionLevel.CAN_RUN)])
    assert _levels(w.pipelines.get_permissions(pipeline_id)) == {
        w.current_user.me().user_name: ["IS_OWNER"], "perm-dev@example.ph": ["CAN_RUN"], "admins": ["CAN_MANAGE"]}
    update_id = developer.pipelines.start_update(pipeline_id).update_id
    wait_until(lambda: w.pipelines.get_update(pipeline_id, update_id).update.state.value in ("COMPLETED", "FAILED"),
               what="the update to end")
    with pytest.raises(BadRequest, match="a pipeline's levels are CAN_VIEW, CAN_RUN, IS_OWNER, CAN_MANAGE"):
        w.api_client.do("PATCH", f"/api/2.0/permissions/pipelines/{pipeline_id}", body={"access_control_list": [
            {"user_name": "perm-dev@example.ph", "permission_level": "CAN_MANAGE_RUN"}]})  # a job's level
    w.pipelines.delete(pipeline_id)


BUNDLE = """
bundle:
  name: permissions_bundle
permissions:
  - level: CAN_VIEW
    group_name: users
  - level: CAN_MANAGE
    user_name: perm-dev@example.ph
resources:
  jobs:
    nightly:
      name: nightly with permissions
      tasks:
        - task_key: t
          notebook_task:
            notebook_path: /Shared/no-such-notebook
      permissions:
        - level: CAN_MANAGE_RUN
          user_name: perm-dev@example.ph
  pipelines:
    scout:
      name: scout with permissions
      target: perm_bundle_dlt
      libraries:
        - notebook:
            path: /Shared/no-such-pipeline-notebook
  experiments:
    tracked:
      name: /Shared/perm-bundle-experiment
targets:
  local:
    default: true
    workspace:
      host: __HOST__
"""


def test_a_bundles_permissions_are_set_on_its_jobs_and_pipelines(server, w, tmp_path):
    from odoolake.bundles.deploy import deploy, destroy, read_state
    from odoolake.bundles.loader import BundleError, load_bundle

    (tmp_path / "databricks.yml").write_text(BUNDLE.replace("__HOST__", server.url))
    bundle = load_bundle(tmp_path, "local", user="tester@example.ph", env={})
    result = deploy(w, bundle)
    state, owner = read_state(w, bundle), w.current_user.me().user_name
    # the job's own grant to the developer wins over the top-level one; the pipeline gets both top-level grants
    assert _levels(w.jobs.get_permissions(state["jobs.nightly"])) == {
        owner: ["IS_OWNER"], "perm-dev@example.ph": ["CAN_MANAGE_RUN"], "users": ["CAN_VIEW"],
        "admins": ["CAN_MANAGE"]}
    assert _levels(w.pipelines.get_permissions(state["pipelines.scout"])) == {
        owner: ["IS_OWNER"], "perm-dev@example.ph": ["CAN_MANAGE"], "users": ["CAN_VIEW"], "admins": ["CAN_MANAGE"]}
    details = {a.resource: a.detail for a in result.actions}
    assert details["jobs.nightly"] == "permissions set: 2 grant(s)"
    assert "permissions not applied" in details["experiments.tracked"]
    destroy(w, bundle)

    (tmp_path / "databricks.yml").write_text(BUNDLE.replace("__HOST__", server.url).replace(
        "level: CAN_VIEW\n    group_name", "level: CAN_MANAGE_RUN\n    group_name"))
    with pytest.raises(BundleError, match=r"databricks\.yml:5:5: 'CAN_MANAGE_RUN' is not one of CAN_MANAGE, "
                                          r"CAN_VIEW, CAN_RUN \(at permissions\[0\]\.level\)"):
        load_bundle(tmp_path, "local", user="tester@example.ph", env={})


def test_permissions_of_other_objects_are_refused_by_name(server, w):
    with pytest.raises(NotImplemented, match="Permissions of clusters are not kept by the local workspace"):
        w.permissions.get("clusters", "local")
    answer = httpx.put(f"{server.url}/api/2.0/permissions/jobs/abc", json={"access_control_list": []},
                       headers={"Authorization": f"Bearer {server.token}"})
    assert answer.status_code == 400 and "Invalid job_id 'abc'" in answer.json()["message"]


def test_a_developer_cannot_reach_the_admins_rights_through_tasks_or_by_removing_run_as(server, w, developer):
    """A run_job_task or pipeline_task started the admin's job or pipeline (as the admin) without the developer's
    right to; removing a job's run_as (or a reset without one) made it run as its creator, the admin."""
    from databricks.sdk.service.jobs import PipelineTask, RunJobTask, SubmitTask
    from databricks.sdk.service.pipelines import NotebookLibrary, PipelineLibrary

    admins_job = w.jobs.create(name="admin's job", tasks=TASKS)
    runs = developer.jobs.submit(run_name="through a task", tasks=[
        SubmitTask(task_key="child", run_job_task=RunJobTask(job_id=admins_job.job_id))]).result()
    assert runs.state.result_state.value == "FAILED"
    assert f"may not run job {admins_job.job_id}: that needs CAN_MANAGE_RUN" in runs.state.state_message
    assert not list(w.jobs.list_runs(job_id=admins_job.job_id))  # nothing of the admin's job ran
    pipeline_id = w.pipelines.create(name="admin's pipeline via task", target="perm_task_dlt", libraries=[
        PipelineLibrary(notebook=NotebookLibrary(path="/Shared/no-such-pipeline-notebook"))]).pipeline_id
    update = developer.jobs.submit(run_name="pipeline through a task", tasks=[
        SubmitTask(task_key="p", pipeline_task=PipelineTask(pipeline_id=pipeline_id, full_refresh=True))]).result()
    assert f"may not start an update of pipeline {pipeline_id}" in update.state.state_message
    assert not w.pipelines.get(pipeline_id).latest_updates

    robot = "perm-robot2@example.ph"
    server.workspace.roles.set_role(robot, "service_principal")
    as_robot = w.jobs.create(name="runs as a robot", tasks=TASKS, run_as=JobRunAs(service_principal_name=robot))
    w.jobs.update_permissions(str(as_robot.job_id), access_control_list=[JobAccessControlRequest(
        user_name="perm-dev@example.ph", permission_level=JobPermissionLevel.CAN_MANAGE)])
    with pytest.raises(PermissionDenied, match="may set run_as only to themselves or to a service principal, not "
                                               "to the user"):
        developer.jobs.update(as_robot.job_id, fields_to_remove=["run_as"])
    with pytest.raises(PermissionDenied, match="may set run_as only to themselves"):
        developer.jobs.reset(as_robot.job_id, new_settings=JobSettings(name="no run_as", tasks=TASKS))
    assert w.jobs.get(as_robot.job_id).run_as_user_name == robot  # unchanged
    developer.jobs.update(as_robot.job_id, new_settings=JobSettings(name="renamed, still the robot"))
    for job_id in (admins_job.job_id, as_robot.job_id):
        w.jobs.delete(job_id)
    w.pipelines.delete(pipeline_id)


def test_a_one_time_run_runs_as_its_run_as_checked_as_a_jobs(server, w, developer):
    """runs/submit took run_as and ignored it: the run ran as its submitter, also when an admin named another user,
    and a developer naming the admin or a user that does not exist was not refused."""
    from databricks.sdk.service.jobs import SubmitTask

    from .test_jobs import upload

    owner = w.current_user.me().user_name
    upload(w, "/Shared/perm-who-am-i", 'dbutils.notebook.exit(spark.sql("SELECT current_user()").first()[0])')
    tasks = [SubmitTask(task_key="who", notebook_task=NotebookTask(notebook_path="/Shared/perm-who-am-i"))]
    with pytest.raises(PermissionDenied, match=rf"may set run_as only to themselves or to a service principal, not "
                                               rf"to the user {owner}"):
        developer.jobs.submit(run_name="as the admin", tasks=tasks, run_as=JobRunAs(user_name=owner))
    with pytest.raises(BadRequest, match=r"'ghost@example\.ph' is not a user or service principal of this workspace"):
        developer.jobs.submit(run_name="as nobody", tasks=tasks, run_as=JobRunAs(user_name="ghost@example.ph"))

    def ran_as(client: WorkspaceClient, run_as: JobRunAs | None) -> str:
        run = client.jobs.submit(run_name="who am i", tasks=tasks, run_as=run_as).result()
        assert run.state.result_state.value == "SUCCESS", run.state.state_message
        return str(client.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result)

    assert ran_as(w, JobRunAs(user_name="perm-dev@example.ph")) == "perm-dev@example.ph"
    robot = "perm-robot3@example.ph"
    server.workspace.roles.set_role(robot, "service_principal")
    assert ran_as(developer, JobRunAs(service_principal_name=robot)) == robot
    assert ran_as(developer, None) == "perm-dev@example.ph"
