"""CDK entry point: `npx cdk synth -c stage=dev|staging|prod` (or env STAGE); no Docker, no account."""

from __future__ import annotations

import sys

from todo_infra.app_builder import build_app, new_app
from todo_infra.packaging import PackagingError, build_all
from todo_infra.stage_config import StageConfigError, resolve_stage_config


def main() -> None:
    app = new_app()
    try:
        config = resolve_stage_config(
            {key: app.node.try_get_context(key) for key in ("stage", "alarm_email")}
        )
        build = build_all()
    except (PackagingError, StageConfigError) as error:
        sys.exit(f"cannot synthesize: {error}")
    build_app(config, build, app=app)
    app.synth()


if __name__ == "__main__":
    main()
