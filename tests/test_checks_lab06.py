"""Typical mistakes of lab 06, each named by its check."""

import textwrap

import pytest

from .conftest import assert_mistake_caught, fill, hidden_verdict, namespace, run_check, solution

DOUBLE = '''
    def double_td_target(rewards, next_obs, terminated, q_network, target_network, gamma):
        with torch.no_grad():
            next_actions = {CHOOSE}(next_obs).argmax(dim=1, keepdim=True)
            next_q = {EVALUATE}(next_obs).gather(1, next_actions){SQUEEZE}
            return rewards + {GAMMA} * {MASK} * next_q
'''
DOUBLE_GOOD = dict(CHOOSE="q_network", EVALUATE="target_network", SQUEEZE=".squeeze(1)",
                   GAMMA="gamma", MASK="(1.0 - terminated)")


def double(**change):
    return fill(DOUBLE, DOUBLE_GOOD, **change)


DUELING = '''
    class DuelingQNetwork(nn.Module):
        def __init__(self, obs_dim, n_actions, hidden=256):
            super().__init__()
            width = {WIDTH}
            self.body = nn.Sequential(nn.Linear(obs_dim, width), nn.ReLU())
            self.value = nn.Sequential(nn.Linear(width, width // 2), nn.ReLU(),
                                       nn.Linear(width // 2, 1){END})
            self.advantage = nn.Sequential(nn.Linear(width, width // 2), nn.ReLU(),
                                           nn.Linear(width // 2, n_actions){END})

        def forward(self, obs):
            features = self.body(obs)
            value, advantage = self.value(features), self.advantage(features)
            return {Q}
'''
DUELING_GOOD = dict(WIDTH="hidden", END="",
                    Q="value + advantage - advantage.mean(dim=1, keepdim=True)")


def dueling(**change):
    return fill(DUELING, DUELING_GOOD, **change)


TREE = '''
    class SumTree:
        def __init__(self, capacity):
            self.capacity = capacity
            self.size = 1 << max(capacity - 1, 0).bit_length()
            self.depth = self.size.bit_length() - 1
            self.tree = np.zeros(2 * self.size)

        @property
        def total(self):
            return float(self.tree[1])

        def priority(self, indices):
            return self.tree[self.size + np.asarray(indices)]

        def update(self, indices, priorities):
            {UPDATE}

        def find(self, values):
            {FIND}
'''
UPDATE_GOOD = """nodes = self.size + np.asarray(indices, dtype=np.int64)
            self.tree[nodes] = priorities
            for _ in range(self.depth):
                nodes = nodes // 2
                self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]"""
FIND_GOOD = """values = np.array(values, dtype=np.float64)
            nodes = np.ones(len(values), dtype=np.int64)
            for _ in range(self.depth):
                left = 2 * nodes
                go_right = values {GE} self.tree[left]
                values {SUBTRACT}= np.where(go_right, self.tree[left], 0.0)
                nodes = left + go_right
            return {RETURN}"""


def tree(UPDATE=UPDATE_GOOD, FIND=FIND_GOOD, **change):
    find = fill(FIND, dict(GE=">=", SUBTRACT="-", RETURN="nodes - self.size"), **change)
    return TREE.replace("{UPDATE}", UPDATE).replace("{FIND}", find)


PRIORITIZED = '''
    class PrioritizedReplayMemory(ReplayMemory):
        def __init__(self, capacity, obs_dim, alpha=0.6, eps=1e-3):
            super().__init__(capacity, obs_dim)
            self.tree = SumTree(capacity)
            self.alpha, self.eps, self.max_priority = alpha, eps, 1.0

        def take(self, indices):  # provided in the notebook
            return Batch(torch.from_numpy(self.obs[indices]),
                         torch.from_numpy(self.actions[indices]),
                         torch.from_numpy(self.rewards[indices]),
                         torch.from_numpy(self.next_obs[indices]),
                         torch.from_numpy(self.terminated[indices]))

        def add(self, obs, action, reward, next_obs, terminated):
            {ADD}

        def sample(self, batch_size, beta):
            segment = self.tree.total / batch_size
            values = (np.arange(batch_size) + np.random.random(batch_size)) * segment
            indices = {INDICES}
            probs = {PROBS}
            weights = {WEIGHTS}
            return self.take(indices), indices, torch.as_tensor({NORM}, dtype=torch.float32)

        def update_priorities(self, indices, td_errors):
            priorities = {PRIORITIES}
            self.tree.update(indices, priorities)
            {MAX}
'''
ADD_GOOD = """self.tree.update([self.position % self.capacity], [self.max_priority])
            super().add(obs, action, reward, next_obs, terminated)"""
PRIORITIZED_GOOD = dict(
    ADD=ADD_GOOD, INDICES="np.minimum(self.tree.find(values), len(self) - 1)",
    PROBS="self.tree.priority(indices) / self.tree.total",
    WEIGHTS="(len(self) * probs) ** -beta", NORM="weights / weights.max()",
    PRIORITIES="(np.abs(td_errors) + self.eps) ** self.alpha",
    MAX="self.max_priority = max(self.max_priority, float(priorities.max()))")


def prioritized(**change):
    return fill(PRIORITIZED, PRIORITIZED_GOOD, **change)


LEARN = '''
    def learn_step(q_network, target_network, optimizer, batch, gamma, weights, double):
        q_taken = q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        if {DOUBLE}:
            y = double_td_target(batch.rewards, batch.next_obs, batch.terminated, q_network,
                                 target_network, gamma)
        else:
            y = {Y}
        loss = {LOSS}
        {ZERO}
        loss.backward()
        optimizer.step()
        return {RETURN}
'''
LEARN_GOOD = dict(
    DOUBLE="double",
    Y="td_target(batch.rewards, batch.next_obs, batch.terminated, target_network, gamma)",
    LOSS='(weights * F.smooth_l1_loss(q_taken, y, reduction="none")).mean()',
    ZERO="optimizer.zero_grad()", RETURN="loss.item(), (q_taken - y).detach().numpy()")


def learn(**change):
    return fill(LEARN, LEARN_GOOD, **change)


MISTAKES = [
    # 6.1 the Double DQN target
    ("6.1", "the target network chooses and evaluates", double(CHOOSE="target_network"),
     "that is lab 02's target"),
    ("6.1", "the online network chooses and evaluates", double(EVALUATE="q_network"),
     "the online network both chose and evaluated"),
    ("6.1", "roles swapped", double(CHOOSE="target_network", EVALUATE="q_network"),
     "the roles are swapped"),
    ("6.1", "no terminal mask", double(MASK="1"), "multiply the bootstrap term by (1 - terminated)"),
    ("6.1", "mask inverted", double(MASK="terminated"), "the mask is inverted"),
    ("6.1", "no gamma", double(GAMMA="1"), "discounted by gamma"),
    ("6.1", "no squeeze", double(SQUEEZE=""), "squeeze(1)"),
    # the values of the max used as the chosen actions: .max(1)[0] where .max(1)[1] was meant.
    # The PyTorch DQN tutorial (reinforcement_q_learning.py, before 2023) used both idioms,
    # target_net(...).max(1)[0] for values and policy_net(state).max(1)[1] for the action;
    # gather's "Expected dtype int64 for index" is then what students see (e.g. Deep RL
    # Hands-On 2nd ed., issue #45)
    ("6.1", "max values as the chosen actions", '''
        def double_td_target(rewards, next_obs, terminated, q_network, target_network, gamma):
            with torch.no_grad():
                next_actions = q_network(next_obs).max(1)[0].unsqueeze(1)
                next_q = target_network(next_obs).gather(1, next_actions).squeeze(1)
                return rewards + gamma * (1.0 - terminated) * next_q''',
     "The index given to gather must be the chosen actions"),
    ("6.1", "gradients into the target", '''
        def double_td_target(rewards, next_obs, terminated, q_network, target_network, gamma):
            next_actions = q_network(next_obs).argmax(dim=1, keepdim=True)
            next_q = target_network(next_obs).gather(1, next_actions).squeeze(1)
            return rewards + gamma * (1.0 - terminated) * next_q''', "torch.no_grad()"),
    # 6.2 the dueling network
    ("6.2", "no mean subtracted", dueling(Q="value + advantage"), "not identifiable"),
    ("6.2", "max instead of mean", dueling(
        Q="value + advantage - advantage.max(dim=1, keepdim=True).values"),
     "you subtracted the max advantage"),
    ("6.2", "mean over the batch", dueling(Q="value + advantage - advantage.mean(dim=0)"),
     "the mean was taken over the batch (dim=0)"),
    # higgsfield/RL-Adventure's dueling notebook, copied widely: value + advantage - advantage.mean()
    ("6.2", "mean over everything", dueling(Q="value + advantage - advantage.mean()"),
     "over the whole batch and every action"),
    ("6.2", "no keepdim", dueling(Q="value + advantage - advantage.mean(dim=1)"),
     "without keepdim=True"),
    ("6.2", "activation after the heads", dueling(END=", nn.ReLU()"),
     "end with an activation"),
    ("6.2", "value left out of Q", dueling(Q="advantage - advantage.mean(dim=1, keepdim=True)"),
     "the value stream V(s) is missing"),
    ("6.2", "no value stream", '''
        class DuelingQNetwork(nn.Module):
            def __init__(self, obs_dim, n_actions, hidden=256):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(),
                                         nn.Linear(hidden, n_actions))

            def forward(self, obs):
                advantage = self.net(obs)
                return advantage - advantage.mean(dim=1, keepdim=True)''', "has no value stream"),
    ("6.2", "fixed width", dueling(WIDTH="64"), "use the hidden argument"),
    # 6.3 the sum tree
    ("6.3", "leaves only, no propagation", tree(
        UPDATE="self.tree[self.size + np.asarray(indices)] = priorities"),
     "The root never changed"),
    ("6.3", "stops below the root", tree(UPDATE=UPDATE_GOOD.replace("range(self.depth)",
                                                                    "range(self.depth - 1)")),
     "The root never changed"),
    ("6.3", "differences added with +=", tree(UPDATE="""nodes = self.size + np.asarray(indices)
            delta = priorities - self.tree[nodes]
            for _ in range(self.depth + 1):
                self.tree[nodes] += delta
                nodes = nodes // 2"""), "tree[parents] += delta counts a parent once"),
    ("6.3", "adds to a leaf instead of replacing", tree(
        UPDATE=UPDATE_GOOD.replace("self.tree[nodes] = priorities",
                                   "self.tree[nodes] += priorities")), "(=, not +=)"),
    ("6.3", "leaves at the wrong nodes", tree(
        UPDATE=UPDATE_GOOD.replace("self.size + np.asarray", "np.asarray")),
     "The leaf of slot j is node self.size + j"),
    ("6.3", "O(n): rebuilds the whole tree", tree(UPDATE="""self.tree[self.size + np.asarray(indices)] = priorities
            for level in range(self.depth):
                nodes = np.arange(self.size >> (level + 1), self.size >> level)
                self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]"""),
     "it grows with the capacity"),
    # the SumTree most PER tutorials copy (jaromiru's AI-blog SumTree.py, reused by rlcode/per)
    # goes left when s <= tree[left]: right only when v > the left sum
    ("6.3", "> instead of >=", tree(GE=">"), "go right when v >= the left sum (not >)"),
    # the same SumTree keeps slot j's leaf at node capacity - 1 + j of 2 * capacity - 1 nodes;
    # carried over to this lab's layout it becomes self.capacity + j, right only when the
    # capacity is a power of two (update and find both)
    ("6.3", "leaf of slot j at node capacity + j", tree(
        UPDATE=UPDATE_GOOD.replace("self.size + np.asarray", "self.capacity + np.asarray"),
        RETURN="nodes - self.capacity"), "is at node self.capacity + j"),
    ("6.3", "find returns nodes - capacity", tree(RETURN="nodes - self.capacity"),
     "that is nodes - self.capacity"),
    ("6.3", "no subtraction when going right", tree(SUBTRACT=""),
     "subtract the left sum from v"),
    ("6.3", "returns node numbers", tree(RETURN="nodes"), "node numbers"),
    ("6.3", "returns floats", tree(RETURN="(nodes - self.size).astype(float)"),
     "return integers"),
    ("6.3", "changes the caller's values", tree(FIND=FIND_GOOD.replace(
        "np.array(values, dtype=np.float64)", "np.asarray(values)")),
     "changed the caller's array of values"),
    ("6.3", "O(n): a cumulative sum per find", tree(
        FIND='return np.searchsorted(np.cumsum(self.tree[self.size:]), values, side="right")'),
     "it grows with the capacity"),
    # 6.4 prioritized replay
    ("6.4", "new transitions at priority 0", prioritized(
        ADD="super().add(obs, action, reward, next_obs, terminated)"),
     "A priority of 0 is never drawn"),
    ("6.4", "priority written one slot off", prioritized(ADD="""super().add(obs, action, reward, next_obs, terminated)
            self.tree.update([self.position % self.capacity], [self.max_priority])"""),
     "one slot off"),
    ("6.4", "transition not stored", prioritized(
        ADD="self.tree.update([self.position % self.capacity], [self.max_priority])"),
     "call super().add"),
    ("6.4", "new transitions always at 1", prioritized(ADD=ADD_GOOD.replace(
        "[self.max_priority]", "[1.0]")), "max_priority was not raised"),
    ("6.4", "max_priority never raised", prioritized(MAX="pass"), "max_priority was not raised"),
    ("6.4", "max_priority without alpha", prioritized(
        MAX="self.max_priority = max(self.max_priority, float(np.abs(td_errors).max() + self.eps))"),
     "after the exponent alpha"),
    ("6.4", "signed TD errors", prioritized(PRIORITIES="(td_errors + self.eps) ** self.alpha"),
     "use the absolute TD error"),
    ("6.4", "no eps", prioritized(PRIORITIES="np.abs(td_errors) ** self.alpha"),
     "add eps before the exponent"),
    ("6.4", "no alpha", prioritized(PRIORITIES="np.abs(td_errors) + self.eps"),
     "to the power alpha"),
    ("6.4", "eps outside the power", prioritized(
        PRIORITIES="np.abs(td_errors) ** self.alpha + self.eps"), "eps goes inside the power"),
    ("6.4", "weights not normalised", prioritized(NORM="weights"),
     "divide the weights by their maximum"),
    ("6.4", "normalised by the sum", prioritized(NORM="weights / weights.sum()"),
     "not the sum"),
    ("6.4", "exponent +beta", prioritized(WEIGHTS="(len(self) * probs) ** beta"),
     "the exponent is -beta"),
    ("6.4", "alpha applied twice", prioritized(
        PROBS="self.tree.priority(indices) ** self.alpha / self.tree.total"),
     "P(i) = tree.priority(i) / tree.total"),
    # OpenAI baselines' PrioritizedReplayBuffer.sample (baselines/deepq/replay_buffer.py), copied
    # into many PER tutorials: p_min = self._it_min.min() / self._it_sum.sum();
    # max_weight = (p_min * N) ** (-beta): the largest weight of the whole memory, not the batch's
    ("6.4", "normalised by the memory's largest weight", prioritized(
        NORM="weights / (len(self) * self.tree.priority(np.arange(len(self))).min() "
             "/ self.tree.total) ** -beta"), "as OpenAI baselines does"),
    # a priority written at a slot out of step with the transition's: ptan's
    # PrioritizedReplayBuffer wrote it at a position that moved only once the buffer was full
    # (Shmuma/ptan PR #21); len(self) is the next free slot only until the memory is full
    ("6.4", "priority at slot len(self)", prioritized(ADD=ADD_GOOD.replace(
        "self.position % self.capacity", "len(self)")), "The slot written is self.position % self.capacity"),
    ("6.4", "uniform draws", prioritized(INDICES="np.random.randint(0, len(self), size=batch_size)"),
     "they should be about"),
    # 6.5 the weighted learning step
    ("6.5", "weights ignored", learn(LOSS="F.smooth_l1_loss(q_taken, y)"),
     "the weights were ignored"),
    # rlcode/per (cartpole_per.py) and its many copies: (torch.FloatTensor(is_weights) *
    # F.mse_loss(pred, target)).mean(), the loss averaged to one number before the weights
    ("6.5", "weights times an already averaged loss", learn(
        LOSS="(weights * F.smooth_l1_loss(q_taken, y)).mean()"),
     "without reduction='none' is already the mean over the batch"),
    ("6.5", "divided by the sum of the weights", learn(
        LOSS='(weights * F.smooth_l1_loss(q_taken, y, reduction="none")).sum() / weights.sum()'),
     "not by the sum of the weights"),
    ("6.5", "weights inside the loss", learn(LOSS="F.smooth_l1_loss(weights * q_taken, weights * y)"),
     "not the TD error inside it"),
    ("6.5", "squared error", learn(LOSS="(weights * (q_taken - y) ** 2).mean()"),
     "use the Huber loss per transition"),
    ("6.5", "double flag ignored", learn(DOUBLE="False"),
     "with double=True the target must come from double_td_target"),
    ("6.5", "double flag inverted", learn(DOUBLE="not double"),
     "with double=False the target must come from td_target"),
    ("6.5", "TD errors as a tensor", learn(RETURN="loss.item(), (q_taken - y).detach()"),
     "return a NumPy array"),
    ("6.5", "losses instead of TD errors", learn(
        RETURN='loss.item(), F.smooth_l1_loss(q_taken, y, reduction="none").detach().numpy()'),
     "those are the Huber losses"),
    ("6.5", "weighted TD errors", learn(
        RETURN="loss.item(), (weights * (q_taken - y)).detach().numpy()"),
     "those are weighted"),
    ("6.5", "TD errors after the step", learn(RETURN="""loss.item(), (q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
                            - y).detach().numpy()"""), "computed after optimizer.step()"),
    ("6.5", "loss only", learn(RETURN="loss.item()"), "should return a tuple (loss, td_errors)"),
    ("6.5", "target with gradients", learn(
        Y="batch.rewards + gamma * (1 - batch.terminated) * target_network(batch.next_obs).max(1).values"),
     "gradients flowed into the target network"),
    ("6.5", "no zero_grad", learn(ZERO="pass"), "call optimizer.zero_grad() before loss.backward()"),
]


@pytest.mark.parametrize("exercise, name, source, expected", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_typical_mistake_is_named(exercise, name, source, expected):
    assert_mistake_caught("06", exercise, source, expected)


def test_a_correct_sum_tree_written_with_python_loops_passes(capsys):
    """The O(log n) check must not mistake a slow but logarithmic tree for an O(n) one."""
    ns = dict(namespace(solution("06")))
    exec(textwrap.dedent(tree(UPDATE="""for slot, priority in zip(np.asarray(indices), np.asarray(priorities)):
                node = self.size + int(slot)
                self.tree[node] = priority
                while node > 1:
                    node //= 2
                    self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]""",
                             FIND="""slots = []
            for v in np.asarray(values, dtype=float):
                node = 1
                while node < self.size:
                    if v >= self.tree[2 * node]:
                        v -= self.tree[2 * node]
                        node = 2 * node + 1
                    else:
                        node = 2 * node
                slots.append(node - self.size)
            return np.array(slots, dtype=np.int64)""")), ns)
    run_check("6.3", ns)
    assert "Exercise 6.3 passed" in capsys.readouterr().out
    verdict = hidden_verdict("06", "6.3", ns)  # it reads the tree O(log n) times too
    assert verdict.passed, verdict


def test_prioritized_replay_is_checked_with_a_right_sum_tree():
    """A wrong SumTree (6.3), or none yet, costs 6.3 alone: 6.4 passes, visible and hidden."""
    for broken in (tree(GE=">", SUBTRACT=""), """
        class SumTree:
            def __init__(self, capacity):
                raise NotImplementedError("Exercise 6.3a: set the leaves")"""):
        ns = dict(namespace(solution("06")))
        exec(textwrap.dedent(broken), ns)
        exec(textwrap.dedent(prioritized()), ns)
        run_check("6.4", ns)
        verdict = hidden_verdict("06", "6.4", ns)
        assert verdict.passed, verdict


def test_learn_step_is_checked_with_right_targets():
    """A wrong double_td_target (6.1), or a stub, costs 6.1 alone: 6.5 passes, visible and
    hidden, and its messages never blame the target."""
    for broken in (double(CHOOSE="target_network", MASK="1"), """
        def double_td_target(rewards, next_obs, terminated, q_network, target_network, gamma):
            raise NotImplementedError("Exercise 6.1: choose a' with q_network")"""):
        ns = dict(namespace(solution("06")))
        exec(textwrap.dedent(broken), ns)
        exec(textwrap.dedent(learn()), ns)
        theirs = ns["double_td_target"]
        run_check("6.5", ns)
        verdict = hidden_verdict("06", "6.5", ns)
        assert verdict.passed, verdict
        assert ns["double_td_target"] is theirs  # the stand-in is gone after the check
