"""distopt_ros: distributed optimization for robot swarms, with a ROS 2 transport.

The ROS-free core (``distopt_ros.core``) holds problems, graphs and the algorithms as
agent state machines; ``distopt_ros.sim`` runs them in-process; ``distopt_ros.ros``
runs the very same agent objects inside rclpy nodes.
"""

from pkgutil import extend_path

# The generated message module (distopt_ros.msg) lives in the colcon install space, beside
# an installed copy of these sources. Extending the package path lets a source checkout
# that shadows the install space (running from the repository root) still find it.
__path__ = extend_path(__path__, __name__)



def _version() -> str:
    """The version declared in package.xml (the one place it is written)."""
    import re
    from pathlib import Path

    here = Path(__file__).resolve().parent
    for manifest in (here.parent / "package.xml", here.parents[3] / "share" / "distopt_ros" / "package.xml"
                     if len(here.parents) > 3 else here / "package.xml"):
        if manifest.is_file():
            found = re.search(r"<version>([^<]+)</version>", manifest.read_text())
            if found:
                return found.group(1).strip()
    try:
        from importlib.metadata import version

        return version("distopt_ros")
    except Exception:
        return "unknown"


__version__ = _version()
