# Sourced by maia's scripts: points the build at the project-local PyTorch (libtorch for
# tch) so no one has to set LIBTORCH or LD_LIBRARY_PATH by hand.
_maia_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VIRTUAL_ENV="$_maia_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
unset _maia_root
