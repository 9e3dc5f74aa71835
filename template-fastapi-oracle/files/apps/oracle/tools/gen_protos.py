"""Generates the gRPC stubs of protos/*.proto as the package `oracle_rpc`.

    python tools/gen_protos.py [OUT_DIR]

OUT_DIR defaults to this interpreter's site-packages, so the stubs are installed like any other
package (the images do this in their build stage; the dev containers on start). Stubs are never
committed: they always match the .proto files and the protobuf runtime they were generated for.

Uses grpcio-tools (requirements-build.txt) when it is installed, otherwise `protoc` with
`grpc_python_plugin` from PATH (Debian: protobuf-compiler, protobuf-compiler-grpc).
The api and the oracle carry identical copies of this script and of the .proto files.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

PACKAGE = "oracle_rpc"
ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def protoc_args(out: Path) -> list[str]:
    protos = sorted(str(path) for path in PROTOS.glob("*.proto"))
    if not protos:
        raise SystemExit(f"gen_protos: no .proto files in {PROTOS}")
    # "-I<package>=<dir>": the files compile as <package>/<name>.proto, so the generated modules
    # land in OUT/<package>/ and import each other as `from <package> import ...`.
    return [f"-I{PACKAGE}={PROTOS}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]


def run_protoc(args: list[str]) -> int:
    try:
        from grpc_tools import protoc  # type: ignore[import-not-found]
    except ImportError:
        protoc = None
    if protoc is not None:
        return int(protoc.main(["grpc_tools.protoc", *args]))
    compiler = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if compiler is None or plugin is None:
        raise SystemExit("gen_protos: install grpcio-tools (requirements-build.txt), or protoc and grpc_python_plugin")
    return subprocess.call([compiler, f"--plugin=protoc-gen-grpc_python={plugin}", *args])


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(sysconfig.get_paths()["purelib"])
    out.mkdir(parents=True, exist_ok=True)
    status = run_protoc(protoc_args(out))
    if status != 0:
        print(f"gen_protos: protoc exited {status}", file=sys.stderr)
        return status
    package = out / PACKAGE
    init = package / "__init__.py"
    if not init.exists():
        init.write_text('"""gRPC stubs generated from protos/*.proto by tools/gen_protos.py."""\n')
    print(f"gen_protos: {PACKAGE} written to {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
