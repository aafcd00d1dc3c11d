#!/usr/bin/env python3
"""MuJoCo's trajectory of the pusher arm (environments/assets/pusher.xml): the reference numbers of
the test `import::mjcf_arm_follows_mujocos_trajectory` (tests/it/import.rs).

Usage
    pip install mujoco==3.* (any recent MuJoCo; these numbers: 4.0.0)
    python3 benches/mujoco_trajectory.py

What it does
    Loads the MJCF file as it is in the repository, starts the arm folded (shoulder 1.57 rad,
    elbow 2.0 rad, at rest, the puck where the file puts it), applies constant joint torques
    (shoulder +0.05 N·m, elbow -0.03 N·m, through qfrc_applied: the file has no actuators) and
    integrates 1 s with RK4 at dt = 0.5 ms (fine enough that the integrator's error is far below
    the tolerance checked). Prints the joint angles at t = 0.25, 0.5, 0.75 and 1.0 s.
"""

import os
import mujoco

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORQUES = {"shoulder": 0.05, "elbow": -0.03}
START = {"shoulder": 1.57, "elbow": 2.0}


def main():
    model = mujoco.MjModel.from_xml_path(os.path.join(REPO, "environments", "assets", "pusher.xml"))
    model.opt.timestep = 0.0005
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_RK4
    data = mujoco.MjData(model)
    joints = {name: model.joint(name) for name in TORQUES}
    for name, joint in joints.items():
        data.qpos[joint.qposadr[0]] = START[name]
    mujoco.mj_forward(model, data)
    steps_per_quarter = round(0.25 / model.opt.timestep)
    print(f"MuJoCo {mujoco.__version__}, RK4, dt {model.opt.timestep} s")
    print("t (s), shoulder (rad), elbow (rad)")
    for quarter in range(1, 5):
        for _ in range(steps_per_quarter):
            for name, joint in joints.items():
                data.qfrc_applied[joint.dofadr[0]] = TORQUES[name]
            mujoco.mj_step(model, data)
        q = [data.qpos[joints[n].qposadr[0]] for n in TORQUES]
        print(f"({quarter * 0.25:.2f}, {q[0]:.6f}, {q[1]:.6f}),")


if __name__ == "__main__":
    main()
