"""Typical mistakes of lab 02, each named by its check."""

import pytest

from .conftest import assert_mistake_caught, fill

REPLAY = '''
    class ReplayMemory:
        def __init__(self, capacity, obs_dim):
            self.capacity, self.position = capacity, 0
            self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
            self.actions = np.zeros(capacity, dtype=np.int64)
            self.rewards = np.zeros(capacity, dtype=np.float32)
            self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
            self.terminated = np.zeros(capacity, dtype=np.float32)

        def add(self, obs, action, reward, next_obs, terminated):
            i = {INDEX}
            self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
            self.next_obs[i], self.terminated[i] = next_obs, terminated
            self.position += 1

        def __len__(self):
            return min(self.position, self.capacity)

        def sample(self, batch_size):
            idx = {SAMPLE}
            return Batch(torch.from_numpy(self.obs[idx]), {ACTIONS},
                         torch.from_numpy(self.rewards[idx]), torch.from_numpy(self.next_obs[{NEXT}]),
                         {TERMINATED})
'''
GOOD = dict(INDEX="self.position % self.capacity",
            SAMPLE="np.random.randint(0, len(self), size=batch_size)",
            ACTIONS="torch.from_numpy(self.actions[idx])", NEXT="idx",
            TERMINATED="torch.from_numpy(self.terminated[idx])")


def replay(**change):
    return fill(REPLAY, GOOD, **change)


SELECT = '''
    def select_action(q_network, obs, epsilon, n_actions, rng):
        if {EXPLORE}:
            return {RANDOM}
        {GRAD}
            q_values = q_network(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))
        return {GREEDY}
'''


def select(EXPLORE="rng.random() < epsilon", RANDOM="int(rng.integers(n_actions))",
           GRAD="with torch.no_grad():", GREEDY="int(q_values.argmax(dim=1).item())"):
    return (SELECT.replace("{EXPLORE}", EXPLORE).replace("{RANDOM}", RANDOM)
            .replace("{GRAD}", GRAD).replace("{GREEDY}", GREEDY))


LEARN = '''
    def learn_step(q_network, target_network, optimizer, batch, gamma):
        q_taken = {Q}
        y = {Y}
        loss = {LOSS}
        {ZERO}
        loss.backward()
        {STEP}
        return loss.item()
'''
LEARN_GOOD = dict(
    Q="q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)",
    Y="td_target(batch.rewards, batch.next_obs, batch.terminated, target_network, gamma)",
    LOSS="F.smooth_l1_loss(q_taken, y)", ZERO="optimizer.zero_grad()", STEP="optimizer.step()")


def learn(**change):
    return fill(LEARN, LEARN_GOOD, **change)


SOFT = '''
    def soft_update(target_network, q_network, tau):
        with torch.no_grad():
            for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                {BODY}
'''

MISTAKES = [
    ("2.1", "ReLU after the output", """
        class QNetwork(nn.Module):
            def __init__(self, obs_dim, n_actions, hidden=128):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(),
                                         nn.Linear(hidden, n_actions), nn.ReLU())

            def forward(self, obs):
                return self.net(obs)""", "the output layer must be linear"),
    ("2.1", "hard-coded sizes", """
        class QNetwork(nn.Module):
            def __init__(self, obs_dim, n_actions, hidden=128):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))

            def forward(self, obs):
                return self.net(obs)""", "raised RuntimeError"),
    ("2.1", "hard-coded action count", """
        class QNetwork(nn.Module):
            def __init__(self, obs_dim, n_actions, hidden=128):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))

            def forward(self, obs):
                return self.net(obs)""", "Use obs_dim and n_actions rather than fixed numbers"),
    ("2.1", "no hidden layer", """
        class QNetwork(nn.Module):
            def __init__(self, obs_dim, n_actions, hidden=128):
                super().__init__()
                self.net = nn.Linear(obs_dim, n_actions)

            def forward(self, obs):
                return self.net(obs)""", "the network has no hidden layer"),
    ("2.2", "lists instead of arrays", """
        class ReplayMemory:
            def __init__(self, capacity, obs_dim):
                self.capacity, self.items = capacity, []

            def add(self, *transition):
                self.items = (self.items + [transition])[-self.capacity:]

            def __len__(self):
                return len(self.items)

            def sample(self, batch_size):
                raise RuntimeError("unused")""", "NumPy arrays allocated once in __init__"),
    ("2.2", "no wrap-around", replay(INDEX="self.position"), "write at row position % capacity"),
    ("2.2", "samples unfilled rows", replay(SAMPLE="np.random.randint(0, self.capacity, size=batch_size)"),
     "a slot that was never filled"),
    ("2.2", "float actions", replay(ACTIONS="torch.from_numpy(self.actions[idx].astype(np.float32))"),
     "actions has dtype torch.float32, expected torch.int64 (gather() needs int64 indices)"),
    ("2.2", "bool terminated", replay(TERMINATED="torch.from_numpy(self.terminated[idx] > 0)"),
     "terminated has dtype torch.bool, expected torch.float32"),
    ("2.2", "fields drawn with other indices",
     replay(NEXT="np.random.randint(0, len(self), size=batch_size)"),
     "do not belong together"),
    ("2.3", "not clamped", """
        def epsilon_at(step, start, end, decay_steps):
            return start + step / decay_steps * (end - start)""",
     "After decay_steps epsilon must stay at its final value"),
    ("2.3", "exponential instead of linear", """
        def epsilon_at(step, start, end, decay_steps):
            return max(end, start * 0.995 ** step)""", "epsilon_at(500, start=1.0"),
    ("2.4", "no torch.no_grad()", select(GRAD="if True:"), "compute the Q-values inside"),
    ("2.4", "exploration inverted", select(EXPLORE="rng.random() > epsilon"),
     "with epsilon = 0 and Q-values [1, 3, 2] the action must always be 1"),
    ("2.4", "random excludes the greedy action", select(
        RANDOM="int(rng.choice([a for a in range(n_actions) if a != 1]))"),
     "with epsilon = 1 every action should be random"),
    ("2.4", "returns a tensor", select(GREEDY="q_values.argmax(dim=1)[0]"), "return a plain int"),
    ("2.4", "np.random instead of rng", select(EXPLORE="np.random.random() < epsilon",
                                              RANDOM="int(np.random.randint(n_actions))"),
     "draw the random numbers from the rng argument"),
    ("2.5", "no terminal mask", """
        def td_target(rewards, next_obs, terminated, target_network, gamma):
            with torch.no_grad():
                return rewards + gamma * target_network(next_obs).max(dim=1).values""",
     "Multiply the bootstrap term by (1 - terminated)"),
    ("2.5", "mask inverted", """
        def td_target(rewards, next_obs, terminated, target_network, gamma):
            with torch.no_grad():
                return rewards + gamma * terminated * target_network(next_obs).max(dim=1).values""",
     "the mask is inverted"),
    ("2.5", "gradients into the target", """
        def td_target(rewards, next_obs, terminated, target_network, gamma):
            return rewards + gamma * (1 - terminated) * target_network(next_obs).max(dim=1).values""",
     "the TD target carries gradients into the target network"),
    ("2.5", "max over the batch", """
        def td_target(rewards, next_obs, terminated, target_network, gamma):
            with torch.no_grad():
                return target_network(next_obs).max(dim=0).values""", "Take the max over actions, dim=1"),
    ("2.5", "keepdim", """
        def td_target(rewards, next_obs, terminated, target_network, gamma):
            with torch.no_grad():
                next_q = target_network(next_obs).max(dim=1, keepdim=True).values
                return (rewards + gamma * (1 - terminated) * next_q.squeeze(1)).unsqueeze(1)""",
     "returned shape (6, 1), expected (6,)"),
    ("2.6", "bootstraps from the online network", learn(
        Y="td_target(batch.rewards, batch.next_obs, batch.terminated, q_network, gamma)"),
     "bootstrapped from the online network"),
    ("2.6", "gather on dim 0", learn(
        Q="q_network(batch.obs).gather(0, batch.actions.unsqueeze(1)).squeeze(1)"),
     "gather() picked along dim 0"),
    ("2.6", "no squeeze: (B, 1) against (B,)", learn(
        Q="q_network(batch.obs).gather(1, batch.actions.unsqueeze(1))"), "broadcast them to (B, B)"),
    ("2.6", "target with gradients", learn(
        Y="batch.rewards + gamma * (1 - batch.terminated) * target_network(batch.next_obs).max(1).values"),
     "gradients flowed into the target network"),
    ("2.6", "no zero_grad", learn(ZERO="pass"), "call optimizer.zero_grad() before loss.backward()"),
    ("2.6", "no optimizer step", learn(STEP="pass"), "the Q-network's weights did not change"),
    ("2.6", "MSE instead of Huber", learn(LOSS="F.mse_loss(q_taken, y)"),
     "this lab uses the Huber loss"),
    ("2.6", "summed instead of averaged", learn(LOSS="F.smooth_l1_loss(q_taken, y, reduction='sum')"),
     "not sum them"),
    ("2.7", "direction swapped", SOFT.replace("{BODY}", "param.lerp_(target_param, tau)"),
     "changed the online network"),
    ("2.7", "weights swapped", SOFT.replace("{BODY}", "target_param.lerp_(param, 1 - tau)"),
     "tau and 1 - tau are swapped"),
    ("2.7", "rebinds the loop variable", SOFT.replace(
        "{BODY}", "target_param = tau * param + (1 - tau) * target_param"),
     "left the target network unchanged"),
]


@pytest.mark.parametrize("exercise, name, source, expected", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_typical_mistake_is_named(exercise, name, source, expected):
    assert_mistake_caught("02", exercise, source, expected)


# --- exercise 2.8, play_step: what is stored as terminated, and when the episode restarts ---
PLAY = '''
    def play_step(env, memory, obs, action):
        {STEP}
        {STORE}
        episode_over = {OVER}
        if {RESET_WHEN}:
            {RESET}
        return {RETURN}
'''
PLAY_GOOD = dict(STEP="next_obs, reward, terminated, truncated, _ = env.step(action)",
                 STORE="memory.add(obs, action, reward, next_obs, terminated)",
                 OVER="terminated or truncated", RESET_WHEN="episode_over",
                 RESET="next_obs, _ = env.reset()", RETURN="next_obs, reward, episode_over")


def play(**change):
    return fill(PLAY, PLAY_GOOD, **change)


PLAY_MISTAKES = [
    # The most common gymnasium bug: `done = terminated or truncated` stored for the TD target.
    # Gymnasium's docs, "Handling Time Limits" (docs/content/handling_timelimits.md: "# INCORRECT
    # vf_target = rew + gamma * (1-done) * vf_next_state") and the v0.26 step API post
    # (docs/content/terminated-truncated-api.md), which found it in the top DQN tutorials, the
    # PyTorch one among them; seen in a CartPole-v1 course notebook (jsboige/CoursIA PR #7821)
    # and introduced on purpose in a DQN (OpenHUTB/nn PR #6458).
    ("2.8", "stores terminated or truncated",
     play(STORE="memory.add(obs, action, reward, next_obs, terminated or truncated)"),
     "you stored `terminated or truncated`"),
    # Resets only on `terminated`: the pre-0.26 loop `if done: reset` ported as `if terminated`.
    # Farama-Foundation/HighwayEnv issue #391: once the env reported its time-out as
    # `truncated`, a student's episodes never ended (maintainer: reset on truncated too); the
    # v0.26 step API post: reset on `terminated or truncated`.
    ("2.8", "resets only on terminated", play(OVER="terminated", RESET_WHEN="terminated"),
     "you reset only on `terminated`"),
    # The two flags swapped: env.step's 5-tuple unpacked in the wrong order, so `truncated` is
    # stored as terminated (and the reset, on either, still looks right). The same mix-up on the
    # env side: dfki-ric-underactuated-lab/double_pendulum issue #5, "Truncated and Terminated
    # seem to be inverted".
    ("2.8", "terminated and truncated swapped",
     play(STEP="next_obs, reward, truncated, terminated, _ = env.step(action)"),
     "terminated and truncated are swapped"),
    # The bootstrap mask stored where the terminal flag belongs: TD3's ReplayBuffer
    # (sfujim/TD3, utils.py) stores `not_done = 1. - done`, and code written in that convention
    # hands `not terminated` to a memory that expects `terminated`.
    ("2.8", "stores the bootstrap mask",
     play(STORE="memory.add(obs, action, reward, next_obs, not terminated)"),
     "the bootstrap mask"),
    # Resets before storing, so the transition's next_obs is the next episode's first state:
    # hill-a/stable-baselines issue #769 ("the terminal state at the end of the episode is
    # overwritten by the state of the new starting episode"), vwxyzjn/cleanrl issue #460.
    ("2.8", "resets before storing", """
        def play_step(env, memory, obs, action):
            next_obs, reward, terminated, truncated, _ = env.step(action)
            episode_over = terminated or truncated
            if episode_over:
                next_obs, _ = env.reset()
            memory.add(obs, action, reward, next_obs, terminated)
            return next_obs, reward, episode_over""", "you reset before storing"),
    # The pre-0.26 reset: `obs = env.reset()` now holds the tuple (obs, info):
    # keras-rl/keras-rl issue #392, Farama-Foundation/HighwayEnv issue #385.
    ("2.8", "reset not unpacked", play(RESET="next_obs = env.reset()"),
     "env.reset() returns two values"),
    # Resets but keeps acting on the finished episode's last observation.
    ("2.8", "reset result dropped", play(RESET="env.reset()"),
     "returned the finished episode's last observation"),
    # Truncation ends the episode for the reset but not for the log.
    ("2.8", "episode_over without truncation", play(RETURN="next_obs, reward, terminated"),
     "A time limit ends the episode too"),
]


@pytest.mark.parametrize("exercise, name, source, expected", PLAY_MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in PLAY_MISTAKES])
def test_typical_play_step_mistake_is_named(exercise, name, source, expected):
    assert_mistake_caught("02", exercise, source, expected)
