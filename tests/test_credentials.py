"""The credential store: docker's config.json, credential helpers, containers' auth.json.

Every test builds its own home directory and passes ``env=`` explicitly, so the
machine's real credentials are never read.  Helpers are real programs: a small
Python script written into a temporary ``bin`` directory that answers
get/store/erase like docker-credential-helpers do and logs what it was asked.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg._auth import CredentialProvider, Credentials
from ocireg._credentials import (
    DOCKER_HUB_KEY,
    DockerConfigStore,
    login,
    logout,
    registry_key,
)
from ocireg._errors import InvalidArgument

HELPER = """\
#!{python}
import json, os, sys

name = os.path.basename(sys.argv[0])[len("docker-credential-"):]
action = sys.argv[1]
data = sys.stdin.read()
with open(os.environ["HELPER_LOG"], "a") as log:
    log.write(json.dumps({{"helper": name, "action": action, "stdin": data}}) + "\\n")
if os.environ.get("HELPER_FAIL") == action:
    # A careless helper: it echoes what it was sent into its diagnostics.
    sys.stderr.write("keychain locked; request was " + data + "\\n")
    sys.exit(3)
if os.environ.get("HELPER_HANG") == action:
    import time
    time.sleep(30)
path = os.path.join(os.environ["HELPER_STORE"], name + ".json")
try:
    with open(path) as f:
        store = json.load(f)
except FileNotFoundError:
    store = {{}}

def not_found():
    print("credentials not found in native keychain")
    sys.exit(1)

if action == "get":
    url = data.strip()
    if url not in store:
        not_found()
    user, secret = store[url]
    json.dump({{"ServerURL": url, "Username": user, "Secret": secret}}, sys.stdout)
elif action == "store":
    request = json.loads(data)
    store[request["ServerURL"]] = [request["Username"], request["Secret"]]
elif action == "erase":
    if data.strip() not in store:
        not_found()
    del store[data.strip()]
else:
    sys.exit(2)
with open(path, "w") as f:
    json.dump(store, f)
"""

GHCR_PAT = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
HUB_TOKEN = "dckr_pat_2b3e36beeb386dfdaacb9b46004ccb7c"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Machine:
    """A fake home: docker config dir, containers auth file, helper bin dir, helper log."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for sub in ("home", "bin", "helper-store", "run"):
            (self.root / sub).mkdir()
        self.env.update(
            {
                "HOME": str(self.home),
                "PATH": str(self.root / "bin"),
                "DOCKER_CONFIG": str(self.docker_dir),
                "HELPER_LOG": str(self.root / "helper.log"),
                "HELPER_STORE": str(self.root / "helper-store"),
            }
        )

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def docker_dir(self) -> Path:
        return self.root / "home" / "docker-config"

    @property
    def config_file(self) -> Path:
        return self.docker_dir / "config.json"

    def write_config(self, config: dict[str, Any]) -> Path:
        self.docker_dir.mkdir(exist_ok=True)
        self.config_file.write_text(json.dumps(config))
        return self.config_file

    def read_config(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.config_file.read_text())
        return data

    def write_auth_file(self, config: dict[str, Any], path: Path | None = None) -> Path:
        path = path or self.root / "auth.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        self.env["REGISTRY_AUTH_FILE"] = str(path)
        return path

    def install_helper(self, name: str, stored: dict[str, tuple[str, str]] | None = None) -> None:
        program = self.root / "bin" / f"docker-credential-{name}"
        program.write_text(HELPER.format(python=sys.executable))
        program.chmod(0o755)
        if stored:
            (self.root / "helper-store" / f"{name}.json").write_text(json.dumps(stored))

    def helper_calls(self) -> list[dict[str, str]]:
        log = self.root / "helper.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def store(self, **kwargs: Any) -> DockerConfigStore:
        return DockerConfigStore(env=self.env, **kwargs)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


# --- keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("docker.io", DOCKER_HUB_KEY),
        ("index.docker.io", DOCKER_HUB_KEY),
        ("registry-1.docker.io", DOCKER_HUB_KEY),
        ("https://index.docker.io/v1/", DOCKER_HUB_KEY),
        ("ghcr.io", "ghcr.io"),
        ("GHCR.io", "ghcr.io"),
        ("https://ghcr.io/", "ghcr.io"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("[::1]:5000", "[::1]:5000"),
        ("registry.example.com:8443", "registry.example.com:8443"),
    ],
)
def test_registry_key(host: str, key: str) -> None:
    assert registry_key(host) == key


@pytest.mark.parametrize("host", ["", "ghcr io", "-bad.example", "host:port", "a\nb"])
def test_registry_key_refuses_what_is_not_a_host(host: str) -> None:
    with pytest.raises(InvalidArgument):
        registry_key(host)


# --- auths ----------------------------------------------------------------------------


def test_auths_entry_with_auth(machine: Machine) -> None:
    machine.write_config({"auths": {"ghcr.io": {"auth": b64(f"octocat:{GHCR_PAT}")}}})
    assert machine.store()("ghcr.io") == Credentials("octocat", GHCR_PAT)


def test_auths_password_may_hold_colons_and_username_password_fields_work(machine: Machine) -> None:
    machine.write_config(
        {
            "auths": {
                "ghcr.io": {"auth": b64("octocat:pa:ss:word")},
                "quay.io": {"username": "org+robot", "password": "R0B0T-T0K3N"},
            }
        }
    )
    store = machine.store()
    assert store("ghcr.io") == Credentials("octocat", "pa:ss:word")
    assert store("quay.io") == Credentials("org+robot", "R0B0T-T0K3N")


def test_auths_entry_with_identity_token(machine: Machine) -> None:
    refresh = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZWZyZXNoIn0.c2lnbmF0dXJl"
    machine.write_config(
        {
            "auths": {
                "myregistry.azurecr.io": {
                    "auth": b64("00000000-0000-0000-0000-000000000000:"),
                    "identitytoken": refresh,
                }
            }
        }
    )
    found = machine.store()("myregistry.azurecr.io")
    assert found == Credentials(
        username="00000000-0000-0000-0000-000000000000", identity_token=refresh
    )
    assert found is not None and found.password is None


def test_auths_registry_token(machine: Machine) -> None:
    machine.write_config({"auths": {"registry.example.com": {"registrytoken": "opaque-bearer"}}})
    assert machine.store()("registry.example.com") == Credentials(registry_token="opaque-bearer")


@pytest.mark.parametrize(
    "key",
    ["ghcr.io", "https://ghcr.io", "http://ghcr.io", "https://ghcr.io/v1/", "HTTPS://GHCR.IO/v2/"],
)
def test_auths_keys_match_by_host(machine: Machine, key: str) -> None:
    machine.write_config({"auths": {key: {"auth": b64(f"octocat:{GHCR_PAT}")}}})
    assert machine.store()("ghcr.io") == Credentials("octocat", GHCR_PAT)


@pytest.mark.parametrize("asked", ["ghcr.io.evil.example", "ghcr.io:5000", "evilghcr.io", "io"])
def test_auths_never_match_another_host(machine: Machine, asked: str) -> None:
    machine.write_config({"auths": {"https://ghcr.io": {"auth": b64(f"octocat:{GHCR_PAT}")}}})
    assert machine.store()(asked) is None


def test_exact_key_wins_over_an_alias(machine: Machine) -> None:
    machine.write_config(
        {
            "auths": {
                "https://ghcr.io": {"auth": b64("stale:old-password")},
                "ghcr.io": {"auth": b64("octocat:new-password")},
            }
        }
    )
    assert machine.store()("ghcr.io") == Credentials("octocat", "new-password")


def test_docker_reads_every_key_as_a_host_only(machine: Machine) -> None:
    # docker's config has no repository keys: "ghcr.io/team" is ghcr.io, as good as
    # any other alias, so file order decides (unlike in auth.json, below).
    machine.write_config(
        {
            "auths": {
                "ghcr.io/team": {"auth": b64("first:1")},
                "https://ghcr.io": {"auth": b64("second:2")},
            }
        }
    )
    assert machine.store()("ghcr.io") == Credentials("first", "1")


def test_placeholder_entry_is_no_credential(machine: Machine) -> None:
    machine.write_config({"auths": {"ghcr.io": {}}})
    assert machine.store()("ghcr.io") is None


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
@pytest.mark.parametrize("key", [DOCKER_HUB_KEY, "docker.io", "index.docker.io"])
def test_docker_hub_names_share_one_entry(machine: Machine, host: str, key: str) -> None:
    machine.write_config({"auths": {key: {"auth": b64(f"hubuser:{HUB_TOKEN}")}}})
    assert machine.store()(host) == Credentials("hubuser", HUB_TOKEN)


def test_default_config_location_is_under_home(machine: Machine) -> None:
    del machine.env["DOCKER_CONFIG"]
    config = machine.home / ".docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {"ghcr.io": {"auth": b64("octocat:pw")}}}))
    store = machine.store()
    assert store.config_file == config
    assert store("ghcr.io") == Credentials("octocat", "pw")


def test_docker_config_argument_overrides_the_environment(machine: Machine, tmp_path: Path) -> None:
    machine.write_config({"auths": {"ghcr.io": {"auth": b64("from-env:pw")}}})
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(
        json.dumps({"auths": {"ghcr.io": {"auth": b64("from-arg:pw")}}})
    )
    assert machine.store(docker_config=other)("ghcr.io") == Credentials("from-arg", "pw")


def test_nothing_configured_is_none(machine: Machine) -> None:
    assert machine.store()("ghcr.io") is None


# --- helpers --------------------------------------------------------------------------


def test_cred_helper_gets_the_server_url_on_stdin(machine: Machine) -> None:
    machine.install_helper("gcloud", {"gcr.io": ("oauth2accesstoken", "ya29.a0AfH6SMB")})
    machine.write_config({"credHelpers": {"gcr.io": "gcloud"}})
    assert machine.store()("gcr.io") == Credentials("oauth2accesstoken", "ya29.a0AfH6SMB")
    assert machine.helper_calls() == [{"helper": "gcloud", "action": "get", "stdin": "gcr.io"}]


def test_cred_helper_token_username_means_identity_token(machine: Machine) -> None:
    machine.install_helper("acr", {"myregistry.azurecr.io": ("<token>", "refresh-token-value")})
    machine.write_config({"credHelpers": {"myregistry.azurecr.io": "acr"}})
    found = machine.store()("myregistry.azurecr.io")
    assert found == Credentials(identity_token="refresh-token-value")
    assert found is not None and found.username is None and found.password is None


def test_cred_helper_for_docker_hub_is_given_the_index_url(machine: Machine) -> None:
    machine.install_helper("desktop", {DOCKER_HUB_KEY: ("hubuser", HUB_TOKEN)})
    machine.write_config({"credHelpers": {DOCKER_HUB_KEY: "desktop"}})
    assert machine.store()("registry-1.docker.io") == Credentials("hubuser", HUB_TOKEN)
    assert [c["stdin"] for c in machine.helper_calls()] == [DOCKER_HUB_KEY]


def test_cred_helper_not_found_answer_is_none(machine: Machine) -> None:
    machine.install_helper("gcloud")
    machine.write_config({"credHelpers": {"gcr.io": "gcloud"}})
    assert machine.store()("gcr.io") is None
    assert [c["action"] for c in machine.helper_calls()] == ["get"]


def test_creds_store_is_the_default_helper(machine: Machine) -> None:
    machine.install_helper("pass", {"ghcr.io": ("octocat", GHCR_PAT)})
    # docker leaves an empty placeholder in auths next to a store.
    machine.write_config({"auths": {"ghcr.io": {}}, "credsStore": "pass"})
    store = machine.store()
    assert store("ghcr.io") == Credentials("octocat", GHCR_PAT)
    assert store("quay.io") is None
    assert [(c["action"], c["stdin"]) for c in machine.helper_calls()] == [
        ("get", "ghcr.io"),
        ("get", "quay.io"),
    ]


def test_empty_creds_store_means_none(machine: Machine) -> None:
    machine.write_config({"credsStore": "", "auths": {"ghcr.io": {"auth": b64("octocat:pw")}}})
    assert machine.store()("ghcr.io") == Credentials("octocat", "pw")


def test_missing_helper_is_named(machine: Machine) -> None:
    machine.write_config({"credsStore": "desktop"})
    with pytest.raises(InvalidArgument, match="docker-credential-desktop"):
        machine.store()("ghcr.io")


def test_failing_helper_reports_status_without_the_secret(machine: Machine) -> None:
    machine.install_helper("pass")
    machine.write_config({"credsStore": "pass"})
    machine.env["HELPER_FAIL"] = "store"
    with pytest.raises(InvalidArgument) as info:
        login("ghcr.io", "octocat", GHCR_PAT, env=machine.env)
    message = str(info.value)
    assert "docker-credential-pass store" in message
    assert "status 3" in message
    assert "keychain locked" in message
    assert GHCR_PAT not in message
    # The helper did receive it: the scrubbing, not an empty stdin, kept it out.
    assert GHCR_PAT in machine.helper_calls()[0]["stdin"]


def test_failing_get_reports_status(machine: Machine) -> None:
    machine.install_helper("pass")
    machine.write_config({"credsStore": "pass"})
    machine.env["HELPER_FAIL"] = "get"
    with pytest.raises(InvalidArgument, match=r"docker-credential-pass get exited with status 3"):
        machine.store()("ghcr.io")


def test_hanging_helper_times_out(machine: Machine) -> None:
    machine.install_helper("slow")
    machine.write_config({"credsStore": "slow"})
    machine.env["HELPER_HANG"] = "get"
    with pytest.raises(InvalidArgument, match="docker-credential-slow get timed out"):
        machine.store(helper_timeout=0.5)("ghcr.io")


@pytest.mark.parametrize("path", ["", ":", ".", "bin", "./bin:", "::"])
def test_helper_is_never_found_through_a_relative_path_entry(
    machine: Machine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
) -> None:
    # A docker-credential-evil planted in the current directory (and in ./bin).
    cwd = tmp_path / "cwd"
    for directory in (cwd, cwd / "bin"):
        directory.mkdir(parents=True)
        planted = directory / "docker-credential-evil"
        planted.write_text(HELPER.format(python=sys.executable))
        planted.chmod(0o755)
    monkeypatch.chdir(cwd)
    machine.env["PATH"] = path
    machine.write_config({"credsStore": "evil"})
    with pytest.raises(InvalidArgument, match="relative PATH entry"):
        machine.store()("ghcr.io")
    assert machine.helper_calls() == []


def test_helper_on_an_absolute_entry_wins_over_a_relative_one(
    machine: Machine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docker-credential-pass").write_text("#!/bin/sh\nexit 9\n")
    (tmp_path / "docker-credential-pass").chmod(0o755)
    machine.install_helper("pass", {"ghcr.io": ("octocat", GHCR_PAT)})
    machine.env["PATH"] = ".:" + machine.env["PATH"]
    machine.write_config({"credsStore": "pass"})
    assert machine.store()("ghcr.io") == Credentials("octocat", GHCR_PAT)


@pytest.mark.parametrize("name", ["../../bin/sh", "a/b", "-rf", "x y"])
def test_helper_names_cannot_leave_path(machine: Machine, name: str) -> None:
    machine.write_config({"credHelpers": {"ghcr.io": name}})
    with pytest.raises(InvalidArgument, match=re.escape(str(machine.config_file))):
        machine.store()("ghcr.io")


@pytest.mark.parametrize(
    "answer",
    ["not json", '["a"]', '{"Username": 5, "Secret": "x"}', '{"Username": "a:b", "Secret": "x"}'],
)
def test_malformed_helper_answer(machine: Machine, answer: str) -> None:
    program = machine.root / "bin" / "docker-credential-odd"
    program.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({answer!r})\n")
    program.chmod(0o755)
    machine.write_config({"credsStore": "odd"})
    with pytest.raises(InvalidArgument, match="docker-credential-odd get"):
        machine.store()("ghcr.io")


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_helper_timeout_is_checked(timeout: float) -> None:
    with pytest.raises(InvalidArgument):
        DockerConfigStore(env={}, helper_timeout=timeout)


# --- precedence -----------------------------------------------------------------------


def test_cred_helper_beats_auths_entry_and_creds_store(machine: Machine) -> None:
    machine.install_helper("gcloud", {"gcr.io": ("from-helper", "h")})
    machine.install_helper("pass", {"gcr.io": ("from-store", "s")})
    machine.write_config(
        {
            "credHelpers": {"gcr.io": "gcloud"},
            "credsStore": "pass",
            "auths": {"gcr.io": {"auth": b64("from-auths:a")}},
        }
    )
    assert machine.store()("gcr.io") == Credentials("from-helper", "h")
    assert [c["helper"] for c in machine.helper_calls()] == ["gcloud"]


def test_auths_entry_beats_creds_store(machine: Machine) -> None:
    machine.install_helper("pass", {"ghcr.io": ("from-store", "s")})
    machine.write_config(
        {"credsStore": "pass", "auths": {"ghcr.io": {"auth": b64("from-auths:a")}}}
    )
    assert machine.store()("ghcr.io") == Credentials("from-auths", "a")
    assert machine.helper_calls() == []


def test_docker_config_beats_auth_json(machine: Machine) -> None:
    machine.write_config({"auths": {"ghcr.io": {"auth": b64("docker:d")}}})
    machine.write_auth_file(
        {"auths": {"ghcr.io": {"auth": b64("containers:c")}, "quay.io": {"auth": b64("q:c")}}}
    )
    store = machine.store()
    assert store("ghcr.io") == Credentials("docker", "d")
    assert store("quay.io") == Credentials("q", "c")


def test_helper_with_nothing_falls_back_to_auth_json(machine: Machine) -> None:
    machine.install_helper("pass")
    machine.write_config({"credsStore": "pass"})
    machine.write_auth_file({"auths": {"ghcr.io": {"auth": b64("containers:c")}}})
    assert machine.store()("ghcr.io") == Credentials("containers", "c")


# --- containers' auth.json ------------------------------------------------------------


def test_auth_json_from_registry_auth_file(machine: Machine) -> None:
    machine.write_auth_file({"auths": {"quay.io": {"auth": b64("org+robot:T0K3N")}}})
    assert machine.store()("quay.io") == Credentials("org+robot", "T0K3N")


def test_auth_file_argument(machine: Machine) -> None:
    path = machine.root / "elsewhere" / "auth.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"auths": {"quay.io": {"auth": b64("arg:pw")}}}))
    assert machine.store(auth_file=path)("quay.io") == Credentials("arg", "pw")


def test_auth_json_under_xdg_runtime_dir_then_config_home(machine: Machine) -> None:
    runtime = machine.root / "run"
    machine.env["XDG_RUNTIME_DIR"] = str(runtime)
    config_home_file = machine.home / ".config" / "containers" / "auth.json"
    config_home_file.parent.mkdir(parents=True)
    config_home_file.write_text(json.dumps({"auths": {"quay.io": {"auth": b64("home:h")}}}))
    store = machine.store()
    assert store.auth_files == (runtime / "containers" / "auth.json", config_home_file)
    assert store("quay.io") == Credentials("home", "h")
    (runtime / "containers").mkdir()
    (runtime / "containers" / "auth.json").write_text(
        json.dumps({"auths": {"quay.io": {"auth": b64("runtime:r")}}})
    )
    assert store("quay.io") == Credentials("runtime", "r")


def test_auth_json_repository_keys_match_their_host(machine: Machine) -> None:
    machine.write_auth_file(
        {
            "auths": {
                "quay.io/org/app": {"auth": b64("app-robot:a")},
                "quay.io/org": {"auth": b64("org-robot:o")},
                "quay.io.evil.example/org": {"auth": b64("evil:e")},
            }
        }
    )
    store = machine.store()
    # The most general key is the better fit for a whole-registry question.
    assert store("quay.io") == Credentials("org-robot", "o")
    assert store("quay.io.evil.example") == Credentials("evil", "e")
    assert store("evil.example") is None


def test_auth_json_host_key_beats_repository_key(machine: Machine) -> None:
    machine.write_auth_file(
        {"auths": {"quay.io/org": {"auth": b64("org-robot:o")}, "quay.io": {"auth": b64("user:u")}}}
    )
    assert machine.store()("quay.io") == Credentials("user", "u")


def test_auth_json_most_specific_key_for_the_repository_wins(machine: Machine) -> None:
    machine.write_auth_file(
        {
            "auths": {
                "quay.io": {"auth": b64("user:u")},
                "quay.io/org": {"auth": b64("org-robot:o")},
                "quay.io/org/app": {"auth": b64("app-robot:a")},
                "quay.io/other": {"auth": b64("other-robot:x")},
            }
        }
    )
    store = machine.store()
    assert store("quay.io", repository="org/app") == Credentials("app-robot", "a")
    assert store("quay.io", repository="org/app/sub") == Credentials("app-robot", "a")
    assert store("quay.io", repository="org/app2") == Credentials("org-robot", "o")
    assert store("quay.io", repository="orgx/app") == Credentials("user", "u")  # whole components
    assert store("quay.io", repository="other/x") == Credentials("other-robot", "x")
    assert store("quay.io", repository="team/x") == Credentials("user", "u")
    assert store("quay.io") == Credentials("user", "u")


def test_auth_json_repository_keys_of_other_repositories_never_apply(machine: Machine) -> None:
    machine.write_auth_file({"auths": {"quay.io/org/app": {"auth": b64("app-robot:a")}}})
    store = machine.store()
    assert store("quay.io", repository="org/other") is None
    assert store("quay.io", repository="org/app") == Credentials("app-robot", "a")


def test_docker_config_keys_stay_host_only_for_a_repository(machine: Machine) -> None:
    machine.write_config({"auths": {"https://quay.io/v1/": {"auth": b64("user:u")}}})
    assert machine.store()("quay.io", repository="org/app") == Credentials("user", "u")


@pytest.mark.parametrize("repository", ["Org/App", "", "a//b", "../x"])
def test_an_invalid_repository_is_refused(machine: Machine, repository: str) -> None:
    with pytest.raises(InvalidArgument):
        machine.store()("quay.io", repository=repository)


def test_auth_json_docker_hub(machine: Machine) -> None:
    machine.write_auth_file({"auths": {"docker.io": {"auth": b64(f"hubuser:{HUB_TOKEN}")}}})
    assert machine.store()("registry-1.docker.io") == Credentials("hubuser", HUB_TOKEN)


# --- malformed files ------------------------------------------------------------------

FAKE_PASSWORD = "hunter2-Sup3rS3cret"


@pytest.mark.parametrize(
    "text",
    [
        '{"auths": {"ghcr.io": {"auth": "' + b64(f"octocat:{FAKE_PASSWORD}") + '"}',  # truncated
        '{"auths": {"ghcr.io": {"password": "' + FAKE_PASSWORD + '", "password": "x"}}}',
        '{"auths": {"ghcr.io": {"username": "octocat", "password": "' + FAKE_PASSWORD + '",}}}',
        '["' + FAKE_PASSWORD + '"]',
        '{"auths": ["' + FAKE_PASSWORD + '"]}',
        '{"auths": {"ghcr.io": "' + FAKE_PASSWORD + '"}}',
        '{"auths": {"ghcr.io": {"auth": "' + FAKE_PASSWORD + '!"}}}',  # not base64
        '{"auths": {"ghcr.io": {"auth": "' + b64(FAKE_PASSWORD) + '"}}}',  # no colon
        '{"auths": {"ghcr.io": {"auth": "' + b64(f"oct:{FAKE_PASSWORD}\x07") + '"}}}',
        '{"auths": {"ghcr.io": {"username": 1, "password": "' + FAKE_PASSWORD + '"}}}',
        '{"credHelpers": "' + FAKE_PASSWORD + '"}',
    ],
)
def test_malformed_config_names_the_file_not_its_contents(machine: Machine, text: str) -> None:
    machine.docker_dir.mkdir()
    machine.config_file.write_text(text)
    with pytest.raises(InvalidArgument) as info:
        machine.store()("ghcr.io")
    message = str(info.value)
    assert str(machine.config_file) in message
    assert FAKE_PASSWORD not in message
    assert b64(FAKE_PASSWORD)[:12] not in message


def test_malformed_auth_json_names_the_file(machine: Machine) -> None:
    path = machine.write_auth_file({})
    path.write_text('{"auths": {"quay.io": {"password": "' + FAKE_PASSWORD + '"')
    with pytest.raises(InvalidArgument) as info:
        machine.store()("quay.io")
    assert str(path) in str(info.value)
    assert FAKE_PASSWORD not in str(info.value)


def test_oversized_config_is_refused(machine: Machine) -> None:
    machine.write_config({"auths": {}, "padding": "x" * (1 << 20)})
    with pytest.raises(InvalidArgument, match="limit"):
        machine.store()("ghcr.io")


def test_unreadable_config_names_the_file(machine: Machine) -> None:
    machine.docker_dir.mkdir()
    machine.config_file.mkdir()  # a directory where the file should be
    with pytest.raises(InvalidArgument, match="cannot read credentials file"):
        machine.store()("ghcr.io")


def test_nothing_secret_in_reprs(machine: Machine) -> None:
    machine.write_config(
        {"auths": {"ghcr.io": {"auth": b64(f"octocat:{GHCR_PAT}"), "identitytoken": "refresh-xyz"}}}
    )
    store = machine.store()
    found = store("ghcr.io")
    assert found is not None
    assert GHCR_PAT not in repr(found) and "refresh-xyz" not in repr(found)
    assert "octocat" in repr(found)
    assert GHCR_PAT not in repr(store)


def test_store_is_a_credential_provider(machine: Machine) -> None:
    provider: CredentialProvider = machine.store()
    machine.write_config({"auths": {"127.0.0.1:5000": {"auth": b64("local:pw")}}})
    assert provider("127.0.0.1:5000") == Credentials("local", "pw")


# --- login / logout -------------------------------------------------------------------


def test_login_writes_a_private_file_and_keeps_other_keys(machine: Machine) -> None:
    assert not machine.docker_dir.exists()
    machine.docker_dir.mkdir(mode=0o755)
    machine.write_config(
        {
            "auths": {
                "quay.io": {"auth": b64("q:c")},
                "https://ghcr.io": {"auth": b64("stale:old")},
            },
            "psFormat": "table {{.ID}}",
            "credHelpers": {"gcr.io": "gcloud"},
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        }
    )
    machine.config_file.chmod(0o644)
    path = login("ghcr.io", "octocat", GHCR_PAT, env=machine.env)
    assert path == machine.config_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = machine.read_config()
    assert config["psFormat"] == "table {{.ID}}"
    assert config["credHelpers"] == {"gcr.io": "gcloud"}
    assert config["proxies"] == {"default": {"httpProxy": "http://proxy:3128"}}
    # The stale alias is gone so it can never shadow the new entry.
    assert config["auths"] == {
        "quay.io": {"auth": b64("q:c")},
        "ghcr.io": {"auth": b64(f"octocat:{GHCR_PAT}")},
    }
    assert machine.store()("ghcr.io") == Credentials("octocat", GHCR_PAT)
    assert [p.name for p in machine.docker_dir.iterdir()] == ["config.json"]  # no temp left


def test_login_creates_a_private_directory(machine: Machine) -> None:
    path = login("docker.io", "hubuser", HUB_TOKEN, env=machine.env)
    assert stat.S_IMODE(machine.docker_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert machine.read_config() == {
        "auths": {DOCKER_HUB_KEY: {"auth": b64(f"hubuser:{HUB_TOKEN}")}}
    }
    assert machine.store()("index.docker.io") == Credentials("hubuser", HUB_TOKEN)


def test_login_docker_config_argument(tmp_path: Path) -> None:
    path = login("ghcr.io", "octocat", "pw", docker_config=tmp_path / "cfg", env={})
    assert path == tmp_path / "cfg" / "config.json"
    assert DockerConfigStore(docker_config=tmp_path / "cfg", env={})("ghcr.io") == Credentials(
        "octocat", "pw"
    )


def test_login_writes_through_a_symlink(machine: Machine) -> None:
    real = machine.root / "dotfiles" / "docker.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"auths": {}}))
    machine.docker_dir.mkdir()
    machine.config_file.symlink_to(real)
    login("ghcr.io", "octocat", "pw", env=machine.env)
    assert machine.config_file.is_symlink()
    assert json.loads(real.read_text())["auths"]["ghcr.io"] == {"auth": b64("octocat:pw")}


def test_login_through_cred_helper(machine: Machine) -> None:
    machine.install_helper("ecr-login")
    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    machine.write_config({"credHelpers": {ecr: "ecr-login"}})
    login(ecr, "AWS", "ecr-password", env=machine.env)
    calls = machine.helper_calls()
    assert [c["action"] for c in calls] == ["store"]
    assert json.loads(calls[0]["stdin"]) == {
        "ServerURL": ecr,
        "Username": "AWS",
        "Secret": "ecr-password",
    }
    # Only docker's placeholder in the file: the secret stays in the helper.
    assert machine.read_config()["auths"] == {ecr: {}}
    assert "ecr-password" not in machine.config_file.read_text()
    assert machine.store()(ecr) == Credentials("AWS", "ecr-password")


def test_login_through_creds_store_uses_the_hub_url(machine: Machine) -> None:
    machine.install_helper("secretservice")
    machine.write_config({"credsStore": "secretservice"})
    login("docker.io", "hubuser", HUB_TOKEN, env=machine.env)
    stored = json.loads(machine.helper_calls()[0]["stdin"])
    assert stored["ServerURL"] == DOCKER_HUB_KEY
    assert machine.store()("registry-1.docker.io") == Credentials("hubuser", HUB_TOKEN)


@pytest.mark.parametrize(
    ("username", "password"),
    [("", "pw"), ("user", ""), ("us:er", "pw"), ("user", "pass\x00word"), ("user\n", "pw")],
)
def test_login_refuses_credentials_it_cannot_store(
    machine: Machine, username: str, password: str
) -> None:
    with pytest.raises(InvalidArgument):
        login("ghcr.io", username, password, env=machine.env)
    assert not machine.config_file.exists()


def test_login_refuses_to_overwrite_a_malformed_file(machine: Machine) -> None:
    machine.docker_dir.mkdir()
    machine.config_file.write_text("{not json")
    with pytest.raises(InvalidArgument, match=re.escape(str(machine.config_file))):
        login("ghcr.io", "octocat", "pw", env=machine.env)
    assert machine.config_file.read_text() == "{not json"


def test_logout_removes_every_key_of_the_host(machine: Machine) -> None:
    machine.write_config(
        {
            "auths": {
                "ghcr.io": {"auth": b64("octocat:pw")},
                "https://ghcr.io": {"auth": b64("old:pw")},
                "quay.io": {"auth": b64("q:c")},
            },
            "psFormat": "table",
        }
    )
    assert logout("ghcr.io", env=machine.env) is True
    assert machine.read_config() == {
        "auths": {"quay.io": {"auth": b64("q:c")}},
        "psFormat": "table",
    }
    assert machine.store()("ghcr.io") is None
    assert logout("ghcr.io", env=machine.env) is False


def test_logout_docker_hub_alias(machine: Machine) -> None:
    login("docker.io", "hubuser", HUB_TOKEN, env=machine.env)
    assert logout("registry-1.docker.io", env=machine.env) is True
    assert machine.read_config() == {"auths": {}}


def test_logout_without_a_file(machine: Machine) -> None:
    assert logout("ghcr.io", env=machine.env) is False
    assert not machine.config_file.exists()


def test_logout_through_helper(machine: Machine) -> None:
    machine.install_helper("pass")
    machine.write_config({"credsStore": "pass"})
    login("ghcr.io", "octocat", GHCR_PAT, env=machine.env)
    assert logout("ghcr.io", env=machine.env) is True
    assert [(c["action"], c["stdin"]) for c in machine.helper_calls()[1:]] == [("erase", "ghcr.io")]
    assert machine.store()("ghcr.io") is None
    assert machine.read_config() == {"credsStore": "pass", "auths": {}}
    assert logout("ghcr.io", env=machine.env) is False


# --- property -------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    host=st.sampled_from(["ghcr.io", "docker.io", "127.0.0.1:5000", "registry.example.com:8443"]),
    username=_TEXT.filter(lambda s: ":" not in s),
    password=_TEXT,
)
def test_login_then_lookup_round_trips(host: str, username: str, password: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        env = {"HOME": root, "PATH": os.defpath}
        login(host, username, password, env=env)
        assert DockerConfigStore(env=env)(host) == Credentials(username, password)
        assert logout(host, env=env) is True
        assert DockerConfigStore(env=env)(host) is None
