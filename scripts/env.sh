# Source me (bash): the venv, the colcon install space, and DDS pinned to this host, for the
# distro DISTOPT_ROS_DISTRO names (jazzy, the default, or kilted), as scripts/setup_env.sh made them.
_distopt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${DISTOPT_ROS_DISTRO:-jazzy}" in
  jazzy) _distopt_suffix="" ;;
  kilted) _distopt_suffix="-kilted" ;;
  *) echo "env.sh: DISTOPT_ROS_DISTRO must be jazzy or kilted, got '$DISTOPT_ROS_DISTRO'" >&2
     unset _distopt_root; return 2 2>/dev/null || exit 2 ;;
esac
# shellcheck disable=SC1091
source "${DISTOPT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/distopt_ros/venv$_distopt_suffix}/bin/activate"
# shellcheck disable=SC1091
source "$_distopt_root/.build$_distopt_suffix/install/local_setup.bash"
# local_setup.bash leaves a trailing ':' (= the cwd) when LD_LIBRARY_PATH was empty.
LD_LIBRARY_PATH=${LD_LIBRARY_PATH%:}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export ROS_DISTRO=${DISTOPT_ROS_DISTRO:-jazzy}
unset _distopt_root _distopt_suffix
