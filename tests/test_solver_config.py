"""The solver config contract (solvers/config.py): a registered solver's Config is a frozen dataclass, and the
size checks read the size a config declares, not its field names."""
from dataclasses import dataclass

import pytest

import problems
from harness.plan.limits import SizeError, cell_memory_bytes, fixed_steps, optimizer_steps
from solvers import Solver, get_solver, list_solvers, register_solver
from solvers.config import ConfigSize, NoConfig, config_size, conventional_size


def test_a_config_that_is_not_a_frozen_dataclass_is_refused_at_registration():
    class Loose:
        pass

    @dataclass
    class Mutable:
        n: int = 1

    with pytest.raises(TypeError, match="Config = .*Loose.* is not a dataclass"):
        register_solver("contract_loose")(type("L", (Solver,), {"Config": Loose}))
    with pytest.raises(TypeError, match="Config Mutable is not frozen"):
        register_solver("contract_mutable")(type("M", (Solver,), {"Config": Mutable}))
    assert "contract_loose" not in list_solvers() and "contract_mutable" not in list_solvers()


def test_every_builtin_config_declares_its_size():
    bkw = problems.get_problem("bkw2d")
    sbp = get_solver("sbp").profile_config("quick", bkw)
    size = config_size(sbp)
    assert size.particles == sbp.n and size.step == (("dt", sbp.dt) if sbp.dt is not None else ("dt_max", sbp.dt_max))
    adaptive = config_size(get_solver("sbp").profile_config("quick", bkw, dt=None))
    assert adaptive.step == ("dt_max", sbp.dt_max)
    assert size.optimizer_steps_per_step == sbp.iters_per_step and size.fixed_optimizer_steps == sbp.init_iters
    pinn = get_solver("pinn_pm_particle").profile_config("quick", bkw)
    psize = config_size(pinn)
    assert psize.particles == max(pinn.n, pinn.n_eval) and psize.fixed_optimizer_steps == pinn.iters
    assert config_size(NoConfig()) == ConfigSize()


def test_the_size_checks_read_a_declared_size_not_field_names():
    """A config whose fields have other names declares its size; the checks use it."""
    @dataclass(frozen=True)
    class Odd:
        particles_wanted: int = 1_000
        step_length: float = 0.5

        def size(self) -> ConfigSize:
            return ConfigSize(particles=self.particles_wanted, step=("step_length", self.step_length),
                              optimizer_steps_per_step=3)

    bkw = problems.get_problem("bkw2d")  # t0 = 0 -> 5: 10 steps of 0.5
    assert fixed_steps(Odd(), bkw) == 10 and optimizer_steps(Odd(), bkw) == 30
    assert cell_memory_bytes(Odd(particles_wanted=2_000), bkw) - cell_memory_bytes(Odd(), bkw) == \
        8 * 2 * 1_000 * (24 + 2 * len(bkw.snapshot_times))
    assert conventional_size(Odd()) == ConfigSize()  # its field names mean nothing to the convention


def test_a_count_that_is_not_an_int_is_a_size_error():
    @dataclass(frozen=True)
    class Bad:
        n: float = 10.5

    with pytest.raises(SizeError, match=r"config field n = 10.5 is not an int"):
        cell_memory_bytes(Bad(), problems.get_problem("bkw2d"))
