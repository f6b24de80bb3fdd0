# Source me (bash): the venv, the colcon install space, and DDS pinned to this host.
_distopt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
source "${DISTOPT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/distopt_ros/venv}/bin/activate"
# shellcheck disable=SC1091
source "$_distopt_root/.build/install/local_setup.bash"
# local_setup.bash leaves a trailing ':' (= the cwd) when LD_LIBRARY_PATH was empty.
LD_LIBRARY_PATH=${LD_LIBRARY_PATH%:}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
unset _distopt_root
