"""pip install . -> the ROS-free core of distopt_ros (algorithms, simulator, CLI).

ROS 2 users build the package with colcon (CMakeLists.txt, ament_cmake + rosidl); this file
serves people without ROS. Version and runtime dependencies are read from package.xml, the
one place they are declared.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
MANIFEST = ET.parse(HERE / "package.xml").getroot()
# rosdep keys of package.xml -> PyPI names; ROS packages (rclpy, msgs) are not pip-installed.
ROSDEP_TO_PYPI = {
    "python3-numpy": "numpy",
    "python3-scipy": "scipy",
    "python3-networkx": "networkx",
    "python3-yaml": "pyyaml",
    "python3-mcap": "mcap",
    "python3-pytest": "pytest",
    "python3-hypothesis": "hypothesis",
}


def _deps(*tags):
    names = [e.text.strip() for tag in tags for e in MANIFEST.findall(tag)]
    return sorted({ROSDEP_TO_PYPI[n] for n in names if n in ROSDEP_TO_PYPI})


setup(
    name=MANIFEST.findtext("name"),
    version=MANIFEST.findtext("version"),
    description=" ".join(MANIFEST.findtext("description").split()),
    license=MANIFEST.findtext("license"),
    python_requires=">=3.10",
    packages=find_packages(include=["distopt_ros", "distopt_ros.*"]),
    install_requires=_deps("depend", "exec_depend"),
    extras_require={"test": _deps("test_depend")},
    data_files=[
        ("share/distopt_ros/config", [str(p.relative_to(HERE)) for p in sorted((HERE / "config").glob("*.yaml"))])
    ],
    entry_points={
        "console_scripts": [
            "distopt-sim = distopt_ros.sim.cli:main",
            "distopt-swarm = distopt_ros.ros.runner:main",
        ]
    },
)
