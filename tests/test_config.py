"""Config loading: experiment files, `base:` inheritance, overrides and types."""

import glob
from pathlib import Path

import pytest

from acjax.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def test_every_experiment_config_is_valid():
    files = sorted(glob.glob(str(REPO / "experiments" / "*" / "*.yaml")))
    assert len(files) >= 40
    from acjax.envs.external import smacv2_missing

    for f in files:
        if "/smacv2/" in f and smacv2_missing():  # every key but the world (not installed here)
            with pytest.raises(ConfigError, match="config key 'env': smacv2-"):
                load_config(f)
            cfg = load_config(f, ["env=matrix-table1"])
        else:
            cfg = load_config(f)
        assert Path(f).stem.endswith(cfg.algo), f


def test_base_inheritance_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("num_envs: 32\nppo:\n  lr: 1e-3\n  epochs: 3\n")
    (tmp_path / "x.yaml").write_text("base: base.yaml\nalgo: ippo\nppo:\n  epochs: 5\n")
    cfg = load_config(tmp_path / "x.yaml", ["ppo.clip_eps=0.1", "net.actor_hidden=[8, 8]"])
    assert cfg.num_envs == 32 and cfg.algo == "ippo"
    assert cfg.ppo.lr == 1e-3 and cfg.ppo.epochs == 5 and cfg.ppo.clip_eps == 0.1
    assert cfg.net.actor_hidden == (8, 8)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("net.actor_hidden=[8, -1]", "net.actor_hidden"),
        ("net.share_params=maybe", "net.share_params"),
        ("ppo=3", "config key 'ppo': expected a mapping"),
        ("acpo.belief=guess", "acpo.belief"),
        ("seed", "not of the form key=value"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        load_config(None, [override])
