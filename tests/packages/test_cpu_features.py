"""LLVM feature names ↔ /proc/cpuinfo flags, and which features a package records."""

from __future__ import annotations

import sys

import pytest

from tensorc.runtime import cpu_features as cf


def test_package_features_keep_checkable_and_turn_off_the_rest():
    host = "+avx2,+sse4.2,+crc32,-avx512f,+xsave,+rdrnd,+egpr,+avxvnniint8,+64bit"
    features, required = cf.package_target_features(host)
    assert required == ["64bit", "avx2", "crc32", "sse4.2"]
    assert features.split(",") == ["+avx2", "+sse4.2", "+crc32", "-avx512f", "+xsave", "+rdrnd", "-egpr", "-avxvnniint8", "+64bit"]
    assert cf.package_target_features("") == ("", [])
    # elsewhere nothing is turned off, and everything is required (so refused: use --cpu generic)
    assert cf.package_target_features("+neon,+sve,-sme", "aarch64-unknown-linux-gnu") == ("+neon,+sve,-sme", ["neon", "sve"])
    assert cf.missing_features(["neon"], {"asimd"}, "aarch64-unknown-linux-gnu") == ([], ["neon"])


def test_missing_features_against_given_flags():
    flags = {"sse4_2", "avx2", "fma", "lm"}
    assert cf.missing_features(["sse4.2", "avx2", "fma", "64bit"], flags) == ([], [])
    assert cf.missing_features(["avx512f", "avx512vnni", "avx2"], flags) == (["avx512f", "avx512vnni"], [])
    assert cf.missing_features(["made-up"], flags) == ([], ["made-up"])
    assert cf.missing_features([], None) == ([], [])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_host_has_what_llvm_says_it_has():
    pytest.importorskip("llvmlite")
    from tensorc.backends.llvm import codegen

    info = codegen.host_target("host")
    _, required = cf.package_target_features(info.features)
    assert required, "a host build should require some features"
    assert cf.missing_features(required) == ([], [])
    assert cf.triple_runs_here(info.triple)
    assert not cf.triple_runs_here("riscv64-unknown-linux-gnu")
