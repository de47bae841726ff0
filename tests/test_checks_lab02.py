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
    # the PyTorch DQN tutorial's network has fixed widths, nn.Linear(n_observations, 128): copied
    # into the template, it ignores the hidden argument that Config.hidden sets
    ("2.1", "hidden width hard-coded", """
        class QNetwork(nn.Module):
            def __init__(self, obs_dim, n_actions, hidden=256):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(obs_dim, 128), nn.ReLU(), nn.Linear(128, 128),
                                         nn.ReLU(), nn.Linear(128, n_actions))

            def forward(self, obs):
                return self.net(obs)""", "use the hidden argument"),
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
    # the PyTorch DQN tutorial's ReplayMemory.sample is random.sample(self.memory, batch_size):
    # without replacement, so a batch larger than the memory raises ValueError
    ("2.2", "samples without replacement",
     replay(SAMPLE="np.random.choice(len(self), batch_size, replace=False)"),
     "sample with replacement"),
    # random.randint(a, b) includes b, np.random.randint(low, high) excludes high: the "- 1" of
    # the first carried over to the second never draws the newest row of a partly filled memory
    ("2.2", "never samples the last filled row",
     replay(SAMPLE="np.random.randint(0, len(self) - 1, size=batch_size)"),
     "np.random.randint(low, high) never returns high"),
    # len(self) stops growing at capacity: every transition after that lands on row 0
    ("2.2", "writes at len(self) instead of position", replay(INDEX="len(self) % self.capacity"),
     "every new transition lands on row 0"),
    ("2.3", "not clamped", """
        def epsilon_at(step, start, end, decay_steps):
            return start + step / decay_steps * (end - start)""",
     "After decay_steps epsilon must stay at its final value"),
    ("2.3", "exponential instead of linear", """
        def epsilon_at(step, start, end, decay_steps):
            return max(end, start * 0.995 ** step)""", "epsilon must fall linearly"),
    # the PyTorch DQN tutorial's schedule: EPS_END + (EPS_START - EPS_END) * exp(-steps / EPS_DECAY)
    ("2.3", "the PyTorch tutorial's exponential decay", """
        def epsilon_at(step, start, end, decay_steps):
            return end + (start - end) * np.exp(-step / decay_steps)""",
     "epsilon must fall linearly"),
    # CleanRL's linear_schedule is max(slope * t + start_e, end_e); written with min() it gives
    # end_e from the first step
    ("2.3", "CleanRL's linear_schedule with min", """
        def epsilon_at(step, start, end, decay_steps):
            slope = (end - start) / decay_steps
            return min(slope * step + start, end)""", "not min()"),
    ("2.3", "integer division", """
        def epsilon_at(step, start, end, decay_steps):
            return start + min(1, step // decay_steps) * (end - start)""",
     "step // decay_steps is integer division"),
    ("2.4", "no torch.no_grad()", select(GRAD="if True:"), "compute the Q-values inside"),
    ("2.4", "exploration inverted", select(EXPLORE="rng.random() > epsilon"),
     "Explore when rng.random() < epsilon (not the other way round)"),
    ("2.4", "random excludes the greedy action", select(
        RANDOM="int(rng.choice([a for a in range(n_actions) if a != 1]))"),
     "The random action is never the greedy one"),
    ("2.4", "returns a tensor", select(GREEDY="q_values.argmax(dim=1)[0]"), "return a plain int"),
    ("2.4", "np.random instead of rng", select(EXPLORE="np.random.random() < epsilon",
                                              RANDOM="int(np.random.randint(n_actions))"),
     "draw the random numbers from the rng argument"),
    # the PyTorch DQN tutorial acts with policy_net(state).max(1)[1] ("second column ... is
    # index"); [0] is the largest Q-value itself
    ("2.4", "the largest Q-value instead of its index", select(GREEDY="int(q_values.max(1)[0])"),
     "not its index"),
    # random.randrange(n_actions) in the PyTorch tutorial, random.randint(0, n_actions - 1)
    # elsewhere: carried over to NumPy's exclusive upper bound, the last action is never drawn
    ("2.4", "rng.integers(n_actions - 1)", select(RANDOM="int(rng.integers(n_actions - 1))"),
     "rng.integers(n_actions) already stops at n_actions - 1"),
    # forgets the batch dimension: works with this MLP, breaks the CNNs of labs 04-05
    ("2.4", "no batch of one", """
        def select_action(q_network, obs, epsilon, n_actions, rng):
            if rng.random() < epsilon:
                return int(rng.integers(n_actions))
            with torch.no_grad():
                q_values = q_network(torch.as_tensor(obs, dtype=torch.float32))
            return int(q_values.argmax().item())""", "make it a batch of one"),
    # "TypeError: linear(): argument 'input' must be Tensor, not numpy.ndarray": the env's
    # observation handed to the network as it is
    ("2.4", "NumPy observation into the network", """
        def select_action(q_network, obs, epsilon, n_actions, rng):
            if rng.random() < epsilon:
                return int(rng.integers(n_actions))
            with torch.no_grad():
                return int(q_network(obs[None]).argmax())""", "Make the observation a tensor first"),
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
     "Use .max(dim=1).values (no keepdim)"),
    # the PyTorch DQN tutorial's target uses target_net(...).max(1)[0] (the values), its action
    # .max(1)[1] (the indices): swapped, the target bootstraps from an action's number
    ("2.5", "indices instead of values", """
        def td_target(rewards, next_obs, terminated, target_network, gamma):
            with torch.no_grad():
                next_q = target_network(next_obs).max(dim=1)[1]
                return rewards + gamma * (1 - terminated) * next_q""",
     "take .max(dim=1).values ([0])"),
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
    # where zero_grad() goes puzzles many (rll/deepul#12, patrickloeber/pytorchTutorial#19);
    # between backward() and step() it wipes the gradients before they are used
    ("2.6", "zero_grad between backward and step", learn(
        ZERO="pass", STEP="optimizer.zero_grad()\n        optimizer.step()"),
     "between backward() and step() it wipes the gradients"),
    # "element 0 of tensors does not require grad and does not have a grad_fn"
    # (QasimWani/RL-Unity#2): the prediction detached like the target
    ("2.6", "Q(s, a) detached", learn(
        Q="q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1).detach()"),
     "The loss has no gradient"),
    ("2.6", "target from obs instead of next_obs", learn(
        Y="td_target(batch.rewards, batch.obs, batch.terminated, target_network, gamma)"),
     "td_target was given obs where batch.next_obs goes"),
    # a notebook global instead of the argument: cfg.gamma (0.99) in place of learn_step's gamma
    ("2.6", "cfg.gamma instead of gamma", "\n    cfg = Config()\n" + learn(
        Y="td_target(batch.rewards, batch.next_obs, batch.terminated, target_network, cfg.gamma)"),
     "pass learn_step's gamma argument on"),
    ("2.7", "direction swapped", SOFT.replace("{BODY}", "param.lerp_(target_param, tau)"),
     "changed the online network"),
    ("2.7", "weights swapped", SOFT.replace("{BODY}", "target_param.lerp_(param, 1 - tau)"),
     "tau and 1 - tau are swapped"),
    # the PyTorch DQN tutorial's soft update mixes target_net.state_dict() entries, then calls
    # target_net.load_state_dict(...): without that last line nothing moves
    ("2.7", "state_dict mixed but never loaded", """
        def soft_update(target_network, q_network, tau):
            target_state = target_network.state_dict()
            for key, value in q_network.state_dict().items():
                target_state[key] = value * tau + target_state[key] * (1 - tau)""",
     "target_network.load_state_dict"),
    # in place without torch.no_grad(): "a leaf Variable that requires grad is being used in an
    # in-place operation"
    ("2.7", "in place under autograd", """
        def soft_update(target_network, q_network, tau):
            for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                target_param.mul_(1 - tau).add_(tau * param)""", "under `with torch.no_grad():`"),
    ("2.7", "return inside the loop", SOFT.replace(
        "{BODY}", "target_param.lerp_(param, tau)\n                return"),
     "the loop stopped early"),
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
