"""Print this machine's Blender extension platform tag (as used in split-platform zip names)."""
import platform
import sys

_SYSTEMS = {"Linux": "linux", "Windows": "windows", "Darwin": "macos"}
_MACHINES = {"x86_64": "x64", "AMD64": "x64", "arm64": "arm64", "aarch64": "arm64"}

system = _SYSTEMS.get(platform.system())
machine = _MACHINES.get(platform.machine())
if not system or not machine:
    sys.exit(f"unsupported platform: {platform.system()} {platform.machine()}")
print(f"{system}_{machine}")
