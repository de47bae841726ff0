"""Typical mistakes of lab 05, each named by its check."""

import pytest

from .conftest import assert_mistake_caught, fill

CNN = '''
    class NatureQNetwork(nn.Module):
        def __init__(self, n_actions, frames=4):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d({IN}, 32, kernel_size=8, stride={S1}), {ACT}
                nn.Conv2d(32, 64, kernel_size=4, stride=2), {ACT}
                {CONV3}
                nn.Flatten(),
                nn.Linear({FLAT}, {HIDDEN}), {ACT}
                nn.Linear({HIDDEN}, {OUT}), {OUT_ACT}
            )

        def forward(self, x):
            {FORWARD}
'''
CNN_GOOD = dict(FORWARD="return self.net({SCALE})", IN="frames", S1="4", ACT="nn.ReLU(),",
                CONV3="nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),",
                FLAT="64 * 7 * 7", HIDDEN="512", OUT="n_actions", OUT_ACT="",
                SCALE="x.float() / 255.0")
BODY = "\n            "  # a new line in forward's body


def cnn(**change):
    return fill(CNN, CNN_GOOD, **change)


def memory(*edits: tuple[str, str]) -> str:
    """The solution's FrameReplayMemory with each (old, new) line edit made (old must exist)."""
    import ast

    import nbformat

    from .conftest import solution

    for cell in nbformat.read(solution("05"), 4).cells:
        tree = ast.parse(cell.source) if cell.cell_type == "code" else None
        for node in tree.body if tree else []:
            if isinstance(node, ast.ClassDef) and node.name == "FrameReplayMemory":
                source = "\n".join(cell.source.splitlines()[node.lineno - 1:node.end_lineno])
    for old, new in edits:
        assert source.count(old) == 1, f"{old!r} is not once in the solution's FrameReplayMemory"
        source = source.replace(old, new)
    return source


STORE = "self.actions[i], self.rewards[i], self.terminated[i] = action, reward, terminated"
PREVIOUS = "np.where(self.first[oldest % self.capacity], oldest, oldest - 1)"
RESULT = "return self.frames[np.stack(slots, axis=1) % self.capacity]"
ZERO_PADDED = """newest = np.asarray(newest)
        out = np.zeros((len(newest), self.stack_size, *self.frames.shape[1:]), np.uint8)
        alive = np.ones(len(newest), bool)
        for k in range(self.stack_size):
            slot = newest - k
            out[alive, self.stack_size - 1 - k] = self.frames[slot[alive] % self.capacity]
            alive &= ~self.first[slot % self.capacity]
        return out"""
STACK_BODY = """slots = [np.asarray(newest)]
        for _ in range(self.stack_size - 1):
            oldest = slots[0]
            slots.insert(0, np.where(self.first[oldest % self.capacity], oldest, oldest - 1))
        return self.frames[np.stack(slots, axis=1) % self.capacity]"""

SIGNAL = '''
    def learning_signal(reward, terminated, lives, new_lives):
        return {REWARD}, {TERMINAL}
'''
SIGNAL_GOOD = dict(REWARD="float(np.sign(reward))",
                   TERMINAL="bool(terminated or new_lives < lives)")


def signal(**change):
    return fill(SIGNAL, SIGNAL_GOOD, **change)


MISTAKES = [
    # (exercise, mistake, source, what the visible check says[, what the hidden test says])
    ("5.1", "pixels not scaled", cnn(SCALE="x.float()"), "does not scale the pixels"),
    ("5.1", "ReLU on the output", cnn(OUT_ACT="nn.ReLU(),"), "must have no activation"),
    ("5.1", "no ReLU between the layers", cnn(ACT="", CONV3="nn.Conv2d(64, 64, 3, stride=1),"),
     "there is no ReLU between the layers"),
    ("5.1", "a fixed number of outputs", cnn(OUT="4"), "use the n_actions argument"),
    ("5.1", "256 hidden units", cnn(HIDDEN="256"), "expected 3136 -> 512"),
    ("5.1", "first conv with stride 2", cnn(S1="2", FLAT="64 * 17 * 17"),
     "kernel_size=8, stride=4) with no padding"),
    ("5.1", "only two conv layers", cnn(CONV3="", FLAT="64 * 9 * 9"),
     "found 2 nn.Conv2d layers, expected 3"),
    # CleanRL's dqn_atari.py writes its QNetwork with nn.Conv2d(4, 32, 8, stride=4): the 4
    # stacked frames hard-coded, so the frames argument is ignored.
    ("5.1", "frames hard-coded to 4", cnn(IN="4"), "use the frames argument"),
    # A .squeeze() that also removes the batch dimension when B = 1: reported in
    # bentrevett/pytorch-sentiment-analysis#41 and NVIDIA/DeepLearningExamples#765.
    ("5.1", "squeeze at batch size 1", cnn(FORWARD="return self.net({SCALE}).squeeze()"),
     "removes the batch dimension when B = 1"),
    # rlpyt's AtariDqnModel.forward: img = observation.type(torch.float); img = img.mul_(1. / 255)
    # "in place": a float batch that .type() returns as it is gets scaled under the caller.
    ("5.1", "scaled in place", cnn(FORWARD=f"x = x.type(torch.float){BODY}x = x.mul_(1.0 / 255)"
                                         f"{BODY}return self.net(x)"),
     "changed its input in place"),
    # The guard `if x.dtype == torch.uint8: x = x.float() / 255` common in public PyTorch
    # models: float pixels 0..255 (what select_action passes) then go in unscaled.
    ("5.1", "only uint8 scaled", cnn(FORWARD=f"if x.dtype == torch.uint8:{BODY}    x = x.float() / "
                                             f"255.0{BODY}return self.net(x)"),
     "float pixels (0..255 as float32) are not scaled"),
    ("5.2", "stores the oldest frame of obs",
     memory(("self.frames[i] = obs[-1]", "self.frames[i] = obs[0]")), "holds obs[0]"),
    ("5.2", "the whole stack in a slot",
     memory(("self.frames[i] = obs[-1]", "self.frames[i] = obs")), "could not broadcast"),
    ("5.2", "no slot for an episode's last frame",
     memory(("if episode_over:", "if episode_over and False:")),
     "one more for the last frame of each finished episode"),
    ("5.2", "first flag never set",
     memory(("self.first[i], self.is_transition[i] = self.episode_over, True",
             "self.first[i], self.is_transition[i] = False, True")), "episode's first slot"),
    ("5.2", "first flag on the slot after an episode's start",
     memory(("self.first[i], self.is_transition[i] = self.episode_over, True",
             "self.first[i], self.is_transition[i] = not self.episode_over, True")),
     "episode's first slot"),
    ("5.2", "action stored in the next slot",
     memory((STORE, "pass"), ("self.position += 1\n        if episode_over",
                              "self.position += 1\n        j = self.position % self.capacity\n"
                              "        self.actions[j], self.rewards[j], self.terminated[j] = "
                              "action, reward, terminated\n        if episode_over")),
     "store them in the slot of obs[-1]"),
    ("5.2", "stacks padded with zeros", memory((STACK_BODY, ZERO_PADDED)), "are zeros"),
    ("5.2", "stacks cross episode starts", memory((PREVIOUS, "oldest - 1")),
     "episode's first slot"),
    ("5.2", "frames newest first",
     memory((RESULT, "return self.frames[np.stack(slots[::-1], axis=1) % self.capacity]")),
     "reverse order"),
    ("5.2", "no modulo: the ring cannot wrap",
     memory((RESULT, "return self.frames[np.stack(slots, axis=1)]")), "IndexError"),
    # google/dopamine#213: the replay buffer finds episode boundaries from the terminal flag, so
    # an episode that ended by truncation is not one; berkeleydeeprlcourse/homework's hw3
    # dqn_utils.py likewise keys everything on `done`. Here: the extra slot on terminated.
    ("5.2", "extra slot when terminated, not when the episode is over",
     memory(("if episode_over:", "if terminated:")), "not when terminated is"),
    # The same confusion in the first flag (dopamine#213): the next episode starts after a
    # terminal transition, so a truncated end starts none, and a lost life starts one.
    ("5.2", "episode starts remembered from terminated",
     memory(("self.episode_over = episode_over", "self.episode_over = terminated")),
     "follows terminated instead of episode_over"),
    # berkeleydeeprlcourse/homework hw3 dqn_utils.py, _encode_observation: a stack stops at the
    # slot after `done`, which with EpisodicLifeEnv is a lost life (the game goes on).
    ("5.2", "stacks stop at a terminal transition",
     memory((PREVIOUS, "np.where(self.first[oldest % self.capacity] | (self.terminated["
                       "(oldest - 1) % self.capacity] > 0), oldest, oldest - 1)")),
     "stops after a terminal transition"),
    # The Nature paper's 4 frames hard-coded (as in CleanRL's nn.Conv2d(4, ...)): stack ignores
    # self.stack_size.
    ("5.2", "stack_size hard-coded to 4",
     memory(("for _ in range(self.stack_size - 1):", "for _ in range(3):")),
     "This memory has stack_size=3"),
    # Stale slots after the ring wraps (berkeleydeeprlcourse/homework#52: old experience beside
    # new at the write head): the extra slot keeps the is_transition of the ring's last lap.
    ("5.2", "extra slot keeps a stale is_transition",
     memory(("self.first[j], self.is_transition[j] = False, False", "self.first[j] = False")),
     "the ring's previous lap may have left True there"),
    # The same, for the first flag: the extra slot keeps a first=True of the ring's last lap,
    # and the stack of the episode's last frame stops there.
    ("5.2", "extra slot keeps a stale first flag",
     memory(("self.first[j], self.is_transition[j] = False, False",
             "self.is_transition[j] = False")),
     "the ring's previous lap may have left True there"),
    ("5.3", "clipped to [-1, 1] instead of the sign",
     signal(REWARD="float(np.clip(reward, -1, 1))"),
     "Clip to the reward's sign"),
    ("5.3", "only positive rewards clipped", signal(REWARD="float(min(reward, 1))"),
     "the clipped reward is the reward's sign"),
    ("5.3", "an int reward", signal(REWARD="int(np.sign(reward))"), "should be a float"),
    ("5.3", "a lost life not terminal", signal(TERMINAL="bool(terminated)"), "a life was lost"),
    ("5.3", "only the last life terminal", signal(TERMINAL="bool(terminated or new_lives == 0)"),
     "a life was lost (5 -> 4)"),
    ("5.3", "a change of lives either way",
     signal(TERMINAL="bool(terminated or new_lives != lives)"),
     "a life was gained, not lost"),
    ("5.3", "terminated ignored", signal(TERMINAL="new_lives < lives"), "the game is over"),
    # openai/baselines atari_wrappers.py, EpisodicLifeEnv: `if lives < self.lives and lives > 0`
    # (the lives > 0 is there for resetting Qbert once); copied into the learning signal it
    # leaves the last life's loss not terminal.
    ("5.3", "baselines' lives > 0 condition",
     signal(TERMINAL="bool(terminated or 0 < new_lives < lives)"),
     "the last life was lost (1 -> 0)"),
    # `reward = 1 if reward >= 0 else -1`, seen in public DQN code on GitHub (trading
    # environments): a zero reward becomes +1.
    ("5.3", "a zero reward clipped to +1", signal(REWARD="1.0 if reward >= 0 else -1.0"),
     "a zero reward must stay 0"),
]


@pytest.mark.parametrize("exercise, mistake, source, expected, hidden",
                         [(*m, None) if len(m) == 4 else m for m in MISTAKES],
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_typical_mistake_is_named(exercise, mistake, source, expected, hidden):
    assert_mistake_caught("05", exercise, source, expected, hidden)
