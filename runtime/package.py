"""Loading and running `.tcpkg` packages with numpy, ctypes and the standard library only.

    model = tensorc.runtime.load("m.tcpkg", threads=2)   # threads: None = as compiled
    outputs = model(x=array)            # dict of outputs by name

Nothing here imports the compiler (xdsl, onnx, llvmlite or tensorc outside
tensorc.runtime). Before any code of the package is loaded, `load` checks, in
this order: the format and its version, that the target triple matches this
process, that this CPU has every feature the package requires (read from
/proc/cpuinfo), and the size and sha256 of the shared library and of the weight
file. Each failure is one line naming the package and what is wrong. The format
is described in docs/package.md.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import stat
import tempfile
import threading
import zipfile
from typing import Any, NamedTuple

import numpy as np

from . import cpu_features
from .signature import InputError, check_inputs

FORMAT = "tcpkg"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
LIBRARY_FILE = "model.so"
WEIGHTS_FILE = "weights.bin"
WEIGHTS_ALIGNMENT = 64
ARENA_ALIGNMENT = 64
ENTRY_ABI = "void tc_entry(void **args); args: inputs, outputs, weights, arena (64-byte aligned)"

_CHUNK = 1 << 20


class PackageError(ValueError):
    """A package cannot be loaded: unreadable, malformed, or not for this runtime or machine."""


class FormatVersionError(PackageError):
    """The package is of another format version than this runtime reads."""


class ChecksumError(PackageError):
    """A file in the package does not match the size or sha256 its manifest records."""


class UnsupportedCPUError(PackageError):
    """The package needs CPU features (or a target) this machine does not have."""


#: Errors a user can cause (bad package, bad inputs); the CLI prints them as one line.
USER_ERRORS = (PackageError, InputError)


class TensorSpec(NamedTuple):
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{self.name}: {'x'.join(map(str, self.shape)) or 'scalar'} {self.dtype}"


# ---- reading a package (zip or directory) ----------------------------------------


class _Reader:
    """The files of a package, from a zip or from a directory holding the same files."""

    def __init__(self, path: str):
        self.path = path
        self._zip = None
        if os.path.isdir(path):
            return
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise PackageError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise PackageError(f"{path}: is a directory") from None
        except OSError as e:
            raise PackageError(f"{path}: cannot read: {e.strerror or e}") from None
        except zipfile.BadZipFile:
            raise PackageError(f"{path}: not a tensorc package (not a zip file)") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def size(self, name: str) -> int:
        if self._zip is None:
            try:
                return os.stat(os.path.join(self.path, name)).st_size
            except FileNotFoundError:
                raise PackageError(f"{self.path}: has no {name}") from None
        try:
            return self._zip.getinfo(name).file_size
        except KeyError:
            raise PackageError(f"{self.path}: has no {name}") from None

    def _open(self, name: str):
        self.size(name)  # a clear error if absent
        if self._zip is None:
            return open(os.path.join(self.path, name), "rb")
        return self._zip.open(name)

    def read_into(self, name: str, buf: np.ndarray) -> None:
        """Read all of `name` into the uint8 array `buf` (whose size is the file's)."""
        mv = memoryview(buf).cast("B")
        pos = 0
        try:
            with self._open(name) as f:
                while pos < len(mv):
                    n = f.readinto(mv[pos : pos + _CHUNK])
                    if not n:
                        break
                    pos += n
        except zipfile.BadZipFile as e:
            raise ChecksumError(f"{self.path}: {name} is corrupt ({e})") from None
        except OSError as e:
            raise PackageError(f"{self.path}: cannot read {name}: {e.strerror or e}") from None
        if pos != len(mv):
            raise ChecksumError(f"{self.path}: {name} is truncated ({pos} of {len(mv)} bytes)")

    def read(self, name: str) -> bytes:
        buf = np.empty(self.size(name), np.uint8)
        self.read_into(name, buf)
        return buf.tobytes()


def _aligned_empty(nbytes: int, alignment: int = 64) -> np.ndarray:
    raw = np.empty(nbytes + alignment, np.uint8)
    shift = -raw.ctypes.data % alignment
    return raw[shift : shift + nbytes]


def _field(manifest: dict, dotted: str, kind, path: str):
    node: Any = manifest
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise PackageError(f"{path}: manifest.json has no '{dotted}'")
        node = node[key]
    if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
        raise PackageError(f"{path}: manifest.json: '{dotted}' is not a {getattr(kind, '__name__', kind)}")
    return node


def _dtype(name: str, path: str) -> np.dtype:
    try:
        return np.dtype(name)
    except TypeError:
        pass
    try:  # bfloat16, float8_*, int4 ...: numpy knows them only through ml_dtypes
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    except (ImportError, AttributeError, TypeError):
        raise PackageError(f"{path}: element type '{name}' needs the ml_dtypes package (pip install ml_dtypes)") from None


def _specs(manifest: dict, key: str, path: str) -> list[TensorSpec]:
    out = []
    for item in _field(manifest, key, list, path):
        if not isinstance(item, dict) or not {"name", "shape", "dtype"} <= set(item):
            raise PackageError(f"{path}: manifest.json: malformed entry in '{key}'")
        out.append(TensorSpec(str(item["name"]), tuple(int(d) for d in item["shape"]), _dtype(item["dtype"], path)))
    return out


def read_manifest(path) -> dict:
    """The parsed manifest.json of a package (no other check)."""
    path = os.fspath(path)
    with _Reader(path) as r:
        return _parse_manifest(r)


def _parse_manifest(r: _Reader) -> dict:
    try:
        manifest = json.loads(r.read(MANIFEST_FILE).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackageError(f"{r.path}: manifest.json is not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise PackageError(f"{r.path}: manifest.json is not a JSON object")
    return manifest


# ---- the checks -------------------------------------------------------------------


def check_format(manifest: dict, path: str) -> None:
    if manifest.get("format") != FORMAT:
        raise PackageError(f"{path}: not a tensorc package (manifest format is {manifest.get('format')!r}, expected '{FORMAT}')")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        by = manifest.get("tensorc_version")
        raise FormatVersionError(
            f"{path}: package format version {version}, but this runtime reads version {FORMAT_VERSION}"
            + (f" (written by tensorc {by}; recompile the model with this tensorc)" if by else "")
        )


def check_machine(manifest: dict, path: str, flags: set[str] | None = None) -> None:
    """Refuse a package whose target or CPU features this machine does not have."""
    triple = _field(manifest, "target.triple", str, path)
    if not cpu_features.triple_runs_here(triple):
        arch, osname = cpu_features.host_arch_os()
        raise UnsupportedCPUError(f"{path}: compiled for {triple}, this machine is {arch} {osname}")
    required = _field(manifest, "target.required_cpu_features", list, path)
    missing, unknown = cpu_features.missing_features(required, flags, triple)
    if missing:
        raise UnsupportedCPUError(
            f"{path}: this CPU lacks feature(s) the package was compiled for: {', '.join(missing)}"
            " (recompile on this machine, or with --cpu generic)"
        )
    if unknown:
        raise UnsupportedCPUError(
            f"{path}: cannot check that this CPU has feature(s) {', '.join(unknown)}; refusing to run"
            " (recompile with --cpu generic)"
        )


def _check_file(manifest: dict, key: str, data, path: str) -> None:
    name = _field(manifest, f"{key}.file", str, path)
    want = _field(manifest, f"{key}.sha256", str, path)
    if hashlib.sha256(data).hexdigest() != want:
        raise ChecksumError(f"{path}: {name} does not match its sha256 in manifest.json (file modified or corrupt)")


def _read_checked(r: _Reader, manifest: dict, key: str, path: str, alignment: int = 1) -> np.ndarray:
    name = _field(manifest, f"{key}.file", str, path)
    size = _field(manifest, f"{key}.size", int, path)
    actual = r.size(name)
    if actual != size:
        raise ChecksumError(f"{path}: {name} has {actual} bytes, manifest.json says {size}")
    buf = _aligned_empty(size, max(alignment, 1))
    r.read_into(name, buf)
    _check_file(manifest, key, buf, path)
    return buf


# ---- the shared-library cache ------------------------------------------------------


def cache_root() -> str:
    """Where shared libraries are extracted: $TENSORC_CACHE_DIR, else ~/.cache/tensorc/packages."""
    env = os.environ.get("TENSORC_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorc", "packages")


def _private_dir(path: str) -> bool:
    """Create `path` (mode 0700) if needed; whether it is ours and not writable by others."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _extract_library(data: np.ndarray, sha256: str) -> str:
    """The path of a file holding `data`, in a private cache directory keyed by its sha256."""
    root = cache_root()
    folder = os.path.join(root, sha256)
    if not (_private_dir(root) and _private_dir(folder)):
        folder = tempfile.mkdtemp(prefix="tensorc-pkg-")  # 0700, ours
    target = os.path.join(folder, LIBRARY_FILE)
    try:
        with open(target, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == sha256:
                return target
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".so", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(memoryview(data))
        os.chmod(tmp, 0o500)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


# ---- threads ------------------------------------------------------------------------

#: library path → the thread count last set in it (its pool is one per loaded library,
#: shared by every Model of that package in this process); absent = the compile-time one
_LIBRARY_THREADS: dict[str, int] = {}


def _thread_setting(manifest: dict, path: str, threads) -> tuple[int | None, str | None]:
    """(threads to set or None, the package's setter symbol or None) for `load(..., threads)`."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise PackageError(f"{path}: threads must be a positive integer or None, not {threads!r}")
    info = manifest.get("threads")
    if info is None:  # written before the thread count could be chosen at load time
        if threads is not None:
            by = manifest.get("tensorc_version")
            raise PackageError(f"{path}: this package (tensorc {by}) cannot change its thread count at run time;"
                               " recompile it to use threads=")
        return None, None
    symbol = _field(manifest, "threads.set_symbol", (str, type(None)), path)
    default = _field(manifest, "threads.default", int, path)
    if threads is not None and threads > 1 and symbol is None and default == 1:
        raise PackageError(f"{path}: compiled with --threads 1 (no thread pool), cannot run on {threads} threads;"
                           " recompile without --threads or with --threads N")
    # no setter and not compiled with --threads 1: no kernel is large enough to split, any count is one thread
    return (threads if symbol is not None else None), symbol


# ---- the model --------------------------------------------------------------------


class Model:
    """A loaded package: call it with numpy arrays, get a dict of outputs by name.

    Calls are serialized: the model has one arena for its intermediates, so two
    threads that want to run concurrently should load the package twice.

    `threads` (None = the package's compile-time setting, by default one per online
    CPU) is how many threads its kernels run on; `set_threads(n)` changes it.
    """

    def __init__(self, path: str, manifest: dict, library: str, weights: np.ndarray, threads: int | None = None):
        self.path = path
        self.manifest = manifest
        self.inputs = _specs(manifest, "inputs", path)
        self.outputs = _specs(manifest, "outputs", path)
        symbol = _field(manifest, "entry.symbol", str, path)
        arena_size = _field(manifest, "arena_size", int, path)
        self._threads, set_symbol = _thread_setting(manifest, path, threads)
        try:
            self._lib = ctypes.CDLL(library)
        except OSError as e:  # e.g. built against a newer C library than this machine's
            raise PackageError(f"{path}: cannot load {LIBRARY_FILE}: {str(e).strip().splitlines()[0]}") from None
        try:
            entry = getattr(self._lib, symbol)
        except AttributeError:
            raise PackageError(f"{path}: {LIBRARY_FILE} has no symbol '{symbol}'") from None
        entry.restype = None
        entry.argtypes = [ctypes.c_void_p]
        self._entry = entry
        self._set_threads = None
        if set_symbol is not None:
            try:
                self._set_threads = getattr(self._lib, set_symbol)
            except AttributeError:
                raise PackageError(f"{path}: {LIBRARY_FILE} has no symbol '{set_symbol}'") from None
            self._set_threads.restype = ctypes.c_int32
            self._set_threads.argtypes = [ctypes.c_int32]
        self._library = library
        self._weights = weights
        self._arena = _aligned_empty(arena_size, ARENA_ALIGNMENT)
        n = len(self.inputs) + len(self.outputs)
        self._args = (ctypes.c_void_p * (n + 2))()
        self._args[n] = weights.ctypes.data
        self._args[n + 1] = self._arena.ctypes.data
        self._lock = threading.Lock()
        self._requested = threads

    @property
    def threads(self) -> int | None:
        """The thread count set with `load(..., threads=)` or `set_threads` (None: as compiled)."""
        return self._requested

    def set_threads(self, threads: int | None) -> None:
        """Run later calls on `threads` threads (None: the package's compile-time setting).
        Outputs do not depend on it."""
        with self._lock:
            self._threads, _ = _thread_setting(self.manifest, self.path, threads)
            self._requested = threads

    def __call__(self, *args, **kwargs) -> dict[str, np.ndarray]:
        arrays = check_inputs(self.inputs, args, kwargs)
        outs = [np.empty(s.shape, s.dtype) for s in self.outputs]
        with self._lock:
            if self._set_threads is not None:
                # the library's pool is shared with other Models of this package: put ours in force
                want = -1 if self._threads is None else self._threads
                if _LIBRARY_THREADS.get(self._library, -1) != want:
                    self._set_threads(want)
                    _LIBRARY_THREADS[self._library] = want
            a = self._args
            for i, b in enumerate(arrays + outs):
                a[i] = b.ctypes.data
            self._entry(a)
        return {spec.name: out for spec, out in zip(self.outputs, outs)}

    def __repr__(self) -> str:
        ins = ", ".join(s.describe() for s in self.inputs)
        outs = ", ".join(s.describe() for s in self.outputs)
        return f"<tensorc.runtime.Model {self.path!r} ({ins}) -> ({outs})>"


def load(path, threads: int | None = None) -> Model:
    """Check a package (format version, target, CPU features, checksums), then load it.
    `threads`: how many threads its kernels run on (None: as compiled, by default one per
    online CPU; a package compiled with --threads 1 has no thread pool and refuses more)."""
    path = os.fspath(path)
    with _Reader(path) as r:
        manifest = _parse_manifest(r)
        check_format(manifest, path)
        check_machine(manifest, path)
        for key in ("inputs", "outputs"):  # element types resolvable, before reading the rest
            _specs(manifest, key, path)
        _thread_setting(manifest, path, threads)  # before reading the files
        library = _read_checked(r, manifest, "library", path)
        weights = _read_checked(r, manifest, "weights", path, alignment=WEIGHTS_ALIGNMENT)
    so = _extract_library(library, _field(manifest, "library.sha256", str, path))
    return Model(path, manifest, so, weights, threads)


# ---- inspect ----------------------------------------------------------------------


def _short(sha: str) -> str:
    return sha[:16] + "…" if len(sha) > 16 else sha


def describe(path) -> str:
    """A readable summary of a package's manifest, with what this machine makes of it."""
    path = os.fspath(path)
    with _Reader(path) as r:
        m = _parse_manifest(r)
        lines = [f"package   {path} ({os.path.getsize(path) if os.path.isfile(path) else '-'} bytes)"]
        lines.append(f"format    {m.get('format')} version {m.get('format_version')}, written by tensorc {m.get('tensorc_version')}")
        try:
            check_format(m, path)
        except PackageError as e:
            lines.append(f"          cannot load: {str(e).split(': ', 1)[-1]}")
            return "\n".join(lines) + "\n"
        t = m.get("target", {})
        lines.append(f"target    {t.get('triple')}, cpu {t.get('cpu')}")
        req = t.get("required_cpu_features", [])
        lines.append(f"requires  {', '.join(req) if req else 'no CPU features beyond the target baseline'}")
        try:
            check_machine(m, path)
            here = "yes"
        except PackageError as e:
            here = "no: " + str(e).split(": ", 1)[-1]
        lines.append(f"runs here {here}")
        lib, w = m.get("library", {}), m.get("weights", {})
        lines.append(f"library   {lib.get('file')}: {lib.get('size')} bytes, sha256 {_short(lib.get('sha256', ''))}, entry {m.get('entry', {}).get('symbol')}")
        lines.append(
            f"weights   {w.get('file')}: {w.get('size')} bytes in {len(w.get('tensors', []))} tensors,"
            f" sha256 {_short(w.get('sha256', ''))}, {w.get('alignment')}-byte aligned"
        )
        lines.append(f"arena     {m.get('arena_size')} bytes")
        th = m.get("threads")
        if isinstance(th, dict):
            default = th.get("default")
            when = "one per online CPU" if default == 0 else f"{default}"
            how = ("settable at load (threads=N, --threads N)" if th.get("set_symbol")
                   else "no thread pool" + (" (compiled with --threads 1)" if default == 1 else " (no kernel to split)"))
            lines.append(f"threads   {when} by default; {how}")
        for key in ("library", "weights"):
            try:
                data = np.empty(r.size(m[key]["file"]), np.uint8)
                r.read_into(m[key]["file"], data)
                _check_file(m, key, data, path)
                ok = "ok"
            except (PackageError, KeyError, TypeError) as e:
                ok = "MISMATCH: " + str(e).split(": ", 1)[-1]
            lines.append(f"checksum  {m.get(key, {}).get('file')}: {ok}")
        for key in ("inputs", "outputs"):
            lines.append(f"{key}:")
            for s in _specs(m, key, path):
                lines.append(f"  {s.describe()}")
    return "\n".join(lines) + "\n"
