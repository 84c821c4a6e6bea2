"""The app factory and its configuration (R-G-07 and production safety)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.app import create_app
from core.config import ConfigError


def test_production_refuses_to_start_without_a_secret_key(app_config, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app_config.pop("SECRET_KEY")
    app_config["QI_ENV"] = "production"
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(app_config)


def test_production_refuses_debug_mode(app_config, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app_config["QI_ENV"] = "production"
    with pytest.raises(ConfigError, match="debug"):
        create_app(app_config)


@pytest.mark.parametrize("name", ["中国质量基础设施一站式服务平台", "全国企质通", "国家质量服务平台"])
def test_platform_name_must_not_claim_national_scope_R_G_07(app_config, name):
    """R-G-07: a name containing 国家, 中国 or 全国 is refused."""
    app_config.update(QI_ENV="production", QI_PLATFORM_NAME=name)
    with pytest.raises(ConfigError, match="R-G-07"):
        create_app(app_config)


def test_platform_name_is_shown_on_pages_R_G_07(app_config):
    app_config["QI_PLATFORM_NAME"] = "佛山市质量基础设施“一站式”服务平台"
    page = create_app(app_config).test_client().get("/").get_data(as_text=True)
    assert "佛山市质量基础设施“一站式”服务平台" in page


def test_development_generates_and_keeps_a_secret_key(app_config, tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app_config.pop("SECRET_KEY")
    app_config["INSTANCE_PATH"] = str(tmp_path / "inst")
    first = create_app(app_config).config["SECRET_KEY"]
    assert (tmp_path / "inst" / "secret_key").read_text().strip() == first
    assert create_app(app_config).config["SECRET_KEY"] == first
    assert oct((tmp_path / "inst" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_environment_is_read_when_the_app_is_created(app_config, monkeypatch):
    monkeypatch.setenv("QI_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("QI_UPLOAD_MAX_MB", "5")
    app = create_app(app_config)
    assert app.config["LOGIN_MAX_FAILURES"] == 7
    assert app.config["MAX_CONTENT_LENGTH"] > 5 * 1024 * 1024
    assert app.config["MAX_FORM_PARTS"] == 50


def test_importing_the_package_does_no_work(tmp_path):
    """No work at import time: importing touches no database, file or plugin."""
    code = (
        "import os; os.environ['QI_INSTANCE_PATH'] = %r\n"
        "import core.app, api.view, core.cli, core.db\n"
        "assert not os.path.exists(%r)\n"
        "import sys; assert 'plugins.metrology' not in sys.modules\n"
    ) % (str(tmp_path / "inst"), str(tmp_path / "inst"))
    subprocess.run([sys.executable, "-c", code], check=True)
