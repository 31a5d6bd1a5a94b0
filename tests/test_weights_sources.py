"""Where weights come from (local folder, cache, mirrors in order, hf-hub) and how they are
verified (SHA-256 from the file name or recorded at first verified use). All offline: mirrors are
a local http.server, the hub is a cache folder in the hub's layout."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest
import torch

import drnet.models.pretrained as catalogue
from drnet import create_model, load_pretrained
from drnet.models import sources
from drnet.models.pretrained import list_pretrained, resolve_pretrained
from tests.fixtures.weights import (
    TINY,
    TINY_KWARGS,
    dead_url,
    make_hub_cache,
    serve,
    tiny_record,
    tiny_state,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """A private torch.hub cache, no user weights folder or mirrors from the environment."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(sources.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv(sources.MIRRORS_ENV, raising=False)


@pytest.fixture
def checkpoint(tmp_path):
    """A tiny checkpoint saved under a name that carries its SHA-256 prefix, like the official
    ImageNet files; returns (file name, bytes, state dict)."""
    state = tiny_state()
    scratch = tmp_path / "scratch.pth"
    torch.save(state, scratch)
    data = scratch.read_bytes()
    return f"drnseg_tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth", data, state


def _cache():
    return sources.cache_dir()


def test_mirrors_are_tried_in_order_and_the_download_is_verified(tmp_path, checkpoint) -> None:
    name, data, state = checkpoint
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / name).write_bytes(data)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # wrong SHA-256
    with serve(tmp_path) as (base, requests):
        urls = [dead_url(name), f"{base}/missing/{name}", f"{base}/bad/{name}",
                f"{base}/good/{name}"]
        record = tiny_record(*urls)
        model = create_model(TINY, **TINY_KWARGS)
        report = load_pretrained(model, record, progress=False)
        assert report.origin == f"downloaded from {urls[3]}"
        assert requests == [f"/missing/{name}", f"/bad/{name}", f"/good/{name}"]
        assert (_cache() / name).read_bytes() == data
        assert sorted(p.name for p in _cache().iterdir()) == [name]  # no partial files left
        torch.testing.assert_close(model.state_dict(), state)
        again = load_pretrained(create_model(TINY, **TINY_KWARGS), record)
        assert again.origin.startswith("torch.hub cache")
        assert len(requests) == 3  # served from the cache: no new request


def test_all_mirrors_down_is_one_line_naming_urls_cache_and_file(tmp_path, checkpoint) -> None:
    name, _, _ = checkpoint
    with serve(tmp_path) as (base, _):
        urls = [dead_url(name), f"{base}/nothing/{name}"]
        with pytest.raises(sources.WeightsNotFoundError) as info:
            sources.locate(tiny_record(*urls), progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"{urls[0]} (ConnectionRefusedError" in message
    assert f"{urls[1]} (HTTPError: HTTP Error 404" in message
    assert f"place it as {name} in {_cache()}" in message
    assert not _cache().exists() or not any(_cache().iterdir())


def test_user_mirrors_come_first_then_the_records_own(tmp_path, monkeypatch, checkpoint) -> None:
    name, data, _ = checkpoint
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / name).write_bytes(data)
    with serve(tmp_path) as (base, requests):
        record = tiny_record(dead_url(name), dead_url(name))
        monkeypatch.setenv(sources.MIRRORS_ENV, f"{base}/empty/, {base}/site")
        assert sources.mirror_urls(record) == [f"{base}/empty/{name}", f"{base}/site/{name}",
                                               *record.urls]
        found = sources.locate(record, progress=False)
    assert found.origin == f"downloaded from {base}/site/{name}"
    assert requests == [f"/empty/{name}", f"/site/{name}"]


def test_local_weights_folder_comes_before_cache_and_network(tmp_path, monkeypatch,
                                                             checkpoint) -> None:
    name, data, state = checkpoint
    env_folder, arg_folder = tmp_path / "env", tmp_path / "arg"
    for folder in (env_folder, arg_folder, _cache()):
        folder.mkdir(parents=True)
    (env_folder / name).write_bytes(data)
    (arg_folder / name).write_bytes(data)
    (_cache() / name).write_bytes(b"not even a checkpoint")  # would fail if it were read
    monkeypatch.setenv(sources.WEIGHTS_DIR_ENV, str(env_folder))
    record = tiny_record(dead_url(name))  # any download attempt would fail
    model = create_model(TINY, **TINY_KWARGS)
    assert load_pretrained(model, record).origin == f"local weights folder {env_folder}"
    torch.testing.assert_close(model.state_dict(), state)
    by_argument = load_pretrained(model, record, weights_dir=arg_folder)
    assert by_argument.origin == f"local weights folder {arg_folder}"


def test_a_file_whose_hash_differs_is_refused_naming_it(tmp_path, checkpoint) -> None:
    name, data, _ = checkpoint
    _cache().mkdir(parents=True)
    corrupted = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    (_cache() / name).write_bytes(corrupted)
    with pytest.raises(sources.HashMismatchError) as info:
        load_pretrained(create_model(TINY, **TINY_KWARGS), tiny_record(dead_url(name)))
    message = str(info.value)
    assert str(_cache() / name) in message
    assert f"expected {name[-12:-4]} (carried in the file name)" in message
    assert hashlib.sha256(corrupted).hexdigest() in message


def test_first_verified_use_records_the_hash_and_later_uses_check_it(tmp_path, monkeypatch
                                                                     ) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    name = "drn_tiny_cityscapes.pth"  # no digest in the name, none published
    torch.save(tiny_state(seed=1), folder / name)
    record = tiny_record(dead_url(name))
    monkeypatch.setattr(catalogue, "PRETRAINED", (*catalogue.PRETRAINED, record))
    monkeypatch.setenv(sources.WEIGHTS_DIR_ENV, str(folder))
    ledger = folder / sources.RECORD_NAME

    with pytest.warns(UserWarning, match="classifier"):  # another num_classes: not its arch
        create_model(TINY, pretrained="test", num_classes=5)
    assert not ledger.exists()
    create_model(TINY, pretrained="test")
    entry = json.loads(ledger.read_text())[name]
    assert entry == {"sha256": sources.file_sha256(folder / name), "model": TINY, "tag": "test"}
    assert sources.expected_sha256(record)[0] == entry["sha256"]

    torch.save(tiny_state(seed=2), folder / name)  # loads strictly, but is another file
    with pytest.raises(sources.HashMismatchError, match=rf"{name}: SHA-256 .* does not match "
                       rf"the expected {entry['sha256']} \(recorded at first verified use in "
                       rf"{ledger}\)"):
        create_model(TINY, pretrained="test")


def test_a_load_into_another_architecture_records_nothing(tmp_path, monkeypatch) -> None:
    name = "drn_tiny_imagenet.pth"
    _cache().mkdir(parents=True)
    torch.save(create_model("drn_d_tiny").state_dict(), _cache() / name)
    record = catalogue.PretrainedWeights("drn_d_tiny", "test", dead_url(name), 1000, "tests")
    monkeypatch.setattr(catalogue, "PRETRAINED", (*catalogue.PRETRAINED, record))
    headless = load_pretrained(create_model("drn_d_tiny", num_classes=0), record)
    assert set(headless.dropped) == {"fc.weight", "fc.bias"}
    assert not (_cache() / sources.RECORD_NAME).exists()
    create_model("drn_d_tiny", pretrained="test", in_chans=1)  # first conv adapted
    assert not (_cache() / sources.RECORD_NAME).exists()
    create_model("drn_d_tiny", pretrained="test")
    assert name in json.loads((_cache() / sources.RECORD_NAME).read_text())


def test_without_a_weights_folder_the_hash_is_recorded_in_the_cache(tmp_path, monkeypatch
                                                                    ) -> None:
    name = "drn_tiny_cityscapes.pth"
    _cache().mkdir(parents=True)
    torch.save(tiny_state(), _cache() / name)
    record = tiny_record(dead_url(name))

    def read_only(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as patch:  # a shared read-only folder: warn, still load
        patch.setattr(sources, "_write_atomically", read_only)
        with pytest.warns(UserWarning, match=rf"could not record the SHA-256 of {name} in "
                                             rf"{_cache() / sources.RECORD_NAME}"):
            load_pretrained(create_model(TINY, **TINY_KWARGS), record)
    load_pretrained(create_model(TINY, **TINY_KWARGS), record)
    assert name in json.loads((_cache() / sources.RECORD_NAME).read_text())


def test_hf_hub_source_loads_offline_from_the_hub_cache(hub_cache) -> None:
    state, other = tiny_state(seed=3), tiny_state(seed=4)
    make_hub_cache(hub_cache, "drnet-test/tiny", {"model.safetensors": state,
                                                  "pytorch_model.bin": other,
                                                  "extra/epoch9.pth": other})
    make_hub_cache(hub_cache, "drnet-test/bin-only", {"pytorch_model.bin": other})
    model = create_model(TINY, pretrained="hf-hub:drnet-test/tiny", **TINY_KWARGS)
    torch.testing.assert_close(model.state_dict(), state)  # model.safetensors comes first
    model = create_model(TINY, pretrained="hf-hub:drnet-test/bin-only", **TINY_KWARGS)
    torch.testing.assert_close(model.state_dict(), other)  # then pytorch_model.bin
    report = load_pretrained(model, "hf-hub:drnet-test/tiny/extra/epoch9.pth")
    assert report.origin == "hf-hub drnet-test/tiny"
    with pytest.raises(sources.WeightsNotFoundError,
                       match=rf"hf-hub:drnet-test/absent .*model\.safetensors .*pytorch_model"
                             rf"\.bin .*the hub cache is {hub_cache}"):
        sources.locate("hf-hub:drnet-test/absent")


def test_hf_hub_without_huggingface_hub_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'drnet\[hub\]'"):
        sources.locate("hf-hub:owner/repo")


@pytest.mark.parametrize(("spec", "parsed"), [
    ("hf-hub:owner/repo", ("owner/repo", None, None)),
    ("hf-hub:owner/repo@v1.0", ("owner/repo", None, "v1.0")),
    ("hf-hub:owner/repo@abc/sub/w.pth", ("owner/repo", "sub/w.pth", "abc")),
])
def test_hub_spec(spec: str, parsed: tuple) -> None:
    assert sources.parse_hub_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["hf-hub:repo", "hf-hub:owner/", "hf-hub:owner/repo//w.pth"])
def test_bad_hub_spec_is_named(spec: str) -> None:
    with pytest.raises(ValueError, match=rf"hf-hub:owner/repo\[@revision\].*got '{spec}'"):
        sources.parse_hub_spec(spec)


def test_official_records_list_both_official_hosts() -> None:
    official = [w for w in list_pretrained() if w.source == "fyu/drn (official)"]
    assert len(official) == 10
    for record in official:
        assert [u.rsplit("/", 1)[-1] for u in record.urls] == [record.file_name] * 2
        assert record.urls[1].startswith("https://tigress-web.princeton.edu/~fy/drn/models/")
    d105 = resolve_pretrained("drn_d_105", True)
    assert d105.urls == ("http://dl.yf.io/drn/drn_d_105-12b40979.pth",
                         "https://tigress-web.princeton.edu/~fy/drn/models/drn_d_105-12b40979.pth")
    city = resolve_pretrained("drnseg_d_22", "cityscapes")
    assert city.sha256_prefix is None  # hence trust on first use
    assert city.sha256 is None
    assert resolve_pretrained("drn_d_22", "hf-hub:owner/repo") == "hf-hub:owner/repo"
