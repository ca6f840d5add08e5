"""Stage config: one typed source per stage, resolved from CDK context, then env, then dev."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aws_cdk import RemovalPolicy
from hypothesis import given
from hypothesis import strategies as st

from todo_infra.stage_config import Stage, StageConfigError, resolve_stage_config, stage_config

ADDRESS = "oncall@todo-insights.invalid"


def test_context_wins_over_environment_which_wins_over_the_default():
    assert (
        resolve_stage_config({"stage": "prod"}, {"STAGE": "staging", "ALARM_EMAIL": ADDRESS}).stage
        is Stage.PROD
    )
    assert resolve_stage_config({}, {"STAGE": "staging", "ALARM_EMAIL": ADDRESS}).stage is Stage.STAGING
    assert resolve_stage_config({}, {}).stage is Stage.DEV
    assert resolve_stage_config({"stage": None}, {}).stage is Stage.DEV


@given(st.text(min_size=1, max_size=12).filter(lambda s: s not in {"dev", "staging", "prod"}))
def test_unknown_stages_are_refused_with_the_known_ones_listed(name):
    with pytest.raises(StageConfigError, match="dev, staging, prod"):
        stage_config(name)


def test_alarm_email_can_be_overridden_but_must_be_an_address():
    config = resolve_stage_config({"stage": "prod", "alarm_email": "oncall@corp.test"}, {})
    assert config.alarm_email == "oncall@corp.test"
    assert resolve_stage_config({}, {"ALARM_EMAIL": "me@corp.test"}).alarm_email == "me@corp.test"
    with pytest.raises(StageConfigError, match="not an email address"):
        resolve_stage_config({"alarm_email": "not-an-address"}, {})


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_staging_and_prod_refuse_to_synthesize_without_an_alarm_address(stage):
    with pytest.raises(StageConfigError, match=f"{stage} needs an alarm address"):
        resolve_stage_config({"stage": stage}, {})
    assert stage_config(stage).alarm_email is None  # no default address to fall back on


@pytest.mark.parametrize(
    "address", ["oncall@example.com", "a@example.org", "x@corp.example", "y@EXAMPLE.NET"]
)
def test_staging_and_prod_refuse_documentation_addresses(address):
    for stage in ("staging", "prod"):
        with pytest.raises(StageConfigError, match="documentation address"):
            resolve_stage_config({"stage": stage, "alarm_email": address}, {})


def test_only_dev_has_a_placeholder_address():
    assert stage_config("dev").alarm_email is not None
    assert resolve_stage_config({"stage": "dev"}, {}).alarm_email == stage_config("dev").alarm_email
    placeholders = [s for s in ("dev", "staging", "prod") if "example" in (stage_config(s).alarm_email or "")]
    assert placeholders == ["dev"]


def test_deletion_protection_is_only_for_stages_that_retain_their_data():
    for name in ("dev", "staging", "prod"):
        config = stage_config(name)
        assert not config.deletion_protection or config.retain_data, name
    with pytest.raises(StageConfigError, match="deletion protection needs retain_data"):
        replace(stage_config("prod"), retain_data=False)


def test_fixed_name_resources_are_retained_except_when_their_first_create_fails():
    assert stage_config("prod").named_removal_policy is RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    assert stage_config("dev").named_removal_policy is RemovalPolicy.DESTROY
    assert stage_config("staging").named_removal_policy is RemovalPolicy.DESTROY


def test_dev_destroys_and_prod_retains():
    dev, prod = stage_config("dev"), stage_config("prod")
    assert (dev.removal_policy, dev.deletion_protection) == (RemovalPolicy.DESTROY, False)
    assert (prod.removal_policy, prod.deletion_protection) == (RemovalPolicy.RETAIN, True)


def test_canary_and_paid_protections_are_for_the_stages_that_need_them():
    assert not stage_config("dev").canary
    assert stage_config("staging").canary
    assert stage_config("prod").canary
    assert stage_config("prod").cognito_threat_protection
    assert not stage_config("dev").cognito_threat_protection


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_every_stage_is_internally_consistent(name):
    config = stage_config(name)
    assert config.prefix == f"todo-insights-{name}"
    assert config.api_throttle_burst >= config.api_throttle_rate
    assert config.waf_rate_limit >= 10  # WAF's minimum
    assert min(config.silver_workers.count, config.gold_workers.count) >= 2  # Glue minimum
    assert config.log_retention is not None
    assert config.stack_id("Data") == f"TodoInsights-{name}-Data"


def test_stages_grow_from_dev_to_prod():
    dev, prod = stage_config("dev"), stage_config("prod")
    assert prod.api_throttle_rate > dev.api_throttle_rate
    assert prod.log_retention_days > dev.log_retention_days


def test_only_dev_allows_browser_origins_and_they_are_plain_origins():
    assert stage_config("dev").cors_allowed_origins
    assert all(o.startswith("http://localhost:") for o in stage_config("dev").cors_allowed_origins)
    assert stage_config("staging").cors_allowed_origins == ()
    assert stage_config("prod").cors_allowed_origins == ()


@pytest.mark.parametrize(
    "origin", ["*", "https://app.example.com/", "app.example.com", "https://a.b/path", ""]
)
def test_a_cors_origin_that_is_not_scheme_host_port_is_refused(origin):
    with pytest.raises(StageConfigError, match="CORS origin"):
        replace(stage_config("prod"), cors_allowed_origins=(origin,))
