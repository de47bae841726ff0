"""Typical mistakes of lab 04, each named by its check; and right variants that must pass."""

import pytest

from .conftest import assert_mistake_caught, fill, namespace, run_check, solution

CROP = '''
    class CartCrop(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
        TOP, CROP_HEIGHT, CROP_WIDTH = 160, 160, 240

        def __init__(self, env, height=40, width=60):
            gym.utils.RecordConstructorArgs.__init__(self, height=height, width=width)
            gym.ObservationWrapper.__init__(self, env)
            self.height, self.width = height, width
            self.observation_space = gym.spaces.Box(0, 255, (height, width), np.uint8)
            self.metadata = {**env.metadata, "render_modes": ["rgb_array"]}

        def cart_column(self):
            u = self.env.unwrapped
            column = round(u.state[0] * u.screen_width / (2 * u.x_threshold) + u.screen_width / 2)
            return int(np.clip(column, 0, u.screen_width))

        def observation(self, obs):
            frame = self.env.render()
            gray = {GRAY}
            band = gray[{ROWS}]
            half = self.CROP_WIDTH // 2
            padded = {PAD}
            column = {COLUMN}
            window = padded[:, column:column + self.CROP_WIDTH]
            image = {RESIZE}
            return {RETURN}
'''
CROP_GOOD = dict(
    GRAY="cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)", ROWS="self.TOP:self.TOP + self.CROP_HEIGHT",
    PAD="cv2.copyMakeBorder(band, 0, 0, half, half, cv2.BORDER_CONSTANT, value=0)",
    COLUMN="self.cart_column()",
    RESIZE="cv2.resize(window, (self.width, self.height), interpolation=cv2.INTER_AREA)",
    RETURN="image")


def crop(**change):
    return fill(CROP, CROP_GOOD, **change)


STACK = '''
    from collections import deque

    class StackFrames(gym.Wrapper):
        def __init__(self, env, k):
            super().__init__(env)
            self.k, self.frames = k, deque(maxlen=k)
            h, w = env.observation_space.shape
            self.observation_space = gym.spaces.Box(0, 255, {SPACE}, np.uint8)

        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            {RESET}
            return self.stacked(), info

        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.frames.{APPEND}(obs)
            return self.stacked(), reward, terminated, truncated, info

        def stacked(self):
            return {STACK}

    def make_pixel_env(k=4):
        return StackFrames(CartCrop(gym.make("CartPole-v1", render_mode="rgb_array")), k)
'''
STACK_GOOD = dict(SPACE="(k, h, w)", RESET="self.frames.extend([obs] * self.k)", APPEND="append",
                  STACK="np.stack(self.frames)")


def stack(**change):
    return fill(STACK, STACK_GOOD, **change)


def make_env_with(body):
    return f'''
    def make_pixel_env(k=4):
        env = gym.make("CartPole-v1", render_mode="rgb_array")
        {body}
'''


CNN = '''
    class PixelQNetwork(nn.Module):
        def __init__(self, obs_shape, n_actions, hidden=256):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d({IN}, 32, kernel_size=8, stride=4), nn.ReLU(),
                nn.Conv2d(32, 64, kernel_size=4, stride=2), nn.ReLU(), nn.Flatten())
            n_flat = {FLAT}
            self.head = nn.Sequential(nn.Linear(n_flat, hidden), nn.ReLU(),
                                      nn.Linear(hidden, n_actions){OUT})

        def forward(self, obs):
            {SCALE}
            return self.head(self.features(x))
'''
CNN_GOOD = dict(IN="obs_shape[0]", FLAT="self.features(torch.zeros(1, *obs_shape)).shape[1]",
                OUT="", SCALE="x = obs.float() / 255.0")


def cnn(**change):
    return fill(CNN, CNN_GOOD, **change)


MISTAKES = [
    ("4.1", "RGB left in", crop(GRAY="frame"), "the colour channels are still there"),
    ("4.1", "scaled to 0..1", crop(RETURN="image / 255.0"), "with values in [0, 1]"),
    ("4.1", "float pixels", crop(RETURN="image.astype(np.float32)"), "expected uint8 pixels"),
    ("4.1", "resize size as (height, width)", crop(
        RESIZE="cv2.resize(window, (self.height, self.width), interpolation=cv2.INTER_AREA)"),
     "height and width are swapped"),
    ("4.1", "not shrunk", crop(RESIZE="window"), "resize it to"),
    ("4.1", "fixed window in the middle of the screen", crop(COLUMN="300"),
     "The window stays put while the cart moves"),
    ("4.1", "window shifted (padding offset forgotten)",
     crop(COLUMN="self.cart_column() + 20"), "the window is shifted"),
    ("4.1", "window clamped to the screen, no padding", crop(
        PAD="band", COLUMN="min(max(self.cart_column() - half, 0), 600 - self.CROP_WIDTH)"),
     "beyond the screen's edge should be black"),
    ("4.1", "padded with white", crop(
        PAD="cv2.copyMakeBorder(band, 0, 0, half, half, cv2.BORDER_CONSTANT, value=255)"),
     "beyond the screen's edge should be black"),
    ("4.1", "wrong rows", crop(ROWS="200:360"), "no cart in the rows where it should be"),
    ("4.1", "window 20 rows too low", crop(ROWS="self.TOP + 20:self.TOP + self.CROP_HEIGHT + 20"),
     "differs from the expected window"),
    ("4.1", "negative window start past the left end", crop(
        COLUMN="round(self.env.unwrapped.state[0] * 125 + 300)"), "just past the end of the track"),
    ("4.1", "height and width ignored", crop(
        RESIZE="cv2.resize(window, (60, 40), interpolation=cv2.INTER_AREA)"),
     "the default size"),
    # --- added for issue 11, each from what students (and published code) really write ---
    # the mean of the channels as grayscale, left as float64 (np.mean returns float64)
    ("4.1", "grayscale as a float mean", crop(GRAY="frame.mean(axis=2)"),
     "has dtype float64; expected uint8 pixels"),
    # downsampling by slicing, as in Karpathy's "Pong from pixels" (pg-pong.py:
    # I = I[::2, ::2, 0]): right for the default 40 x 60 only
    ("4.1", "shrunk by slicing [::4, ::4]", crop(RESIZE="window[::4, ::4]"), "the default size"),
    # frames concatenated along the last axis, as OpenAI baselines' LazyFrames does
    # (np.concatenate(frames, axis=-1), meant for (H, W, 1) frames): on (H, W) frames it glues
    # them side by side
    ("4.2", "frames concatenated, not stacked", stack(
        STACK="np.concatenate(self.frames, axis=-1)"), "joined end to end (np.concatenate)"),
    # a hand-written wrapper that keeps the wrapped env's observation_space (openai/gym PR
    # #1492's review: "self.observation_space.shape won't match the shape of observations")
    ("4.2", "observation_space not updated", stack(SPACE="(h, w)"),
     "sets its observation_space to match"),
    # the wrappers in the wrong order: the stack of states, then a crop of the current frame
    ("4.2", "wrappers in the wrong order", make_env_with(
        "return CartCrop(gym.wrappers.FrameStackObservation(env, k))"),
     "the frames are not stacked"),
    # torch.flatten(x) flattens the batch too (start_dim=0), unlike nn.Flatten (start_dim=1):
    # stackoverflow.com/q/67460123 "Understanding torch.nn.Flatten"
    ("4.3", "torch.flatten without start_dim", '''
    class PixelQNetwork(nn.Module):
        def __init__(self, obs_shape, n_actions, hidden=256):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(obs_shape[0], 32, 8, stride=4), nn.ReLU(),
                                      nn.Conv2d(32, 64, 4, stride=2), nn.ReLU())
            with torch.no_grad():
                n_flat = self.conv(torch.zeros(1, *obs_shape)).numel()
            self.head = nn.Sequential(nn.Linear(n_flat, hidden), nn.ReLU(),
                                      nn.Linear(hidden, n_actions))

        def forward(self, obs):
            return self.head(torch.flatten(self.conv(obs.float() / 255.0)))''',
     "flattened the batch dimension too"),
    # channels-last thinking (TensorFlow/Keras and OpenAI baselines stack frames on the last
    # axis, (H, W, k)): the frame count taken from obs_shape[-1]
    ("4.3", "channels taken from the last axis", cnn(IN="obs_shape[-1]"), "use obs_shape[0]"),
    # --- the mistakes of the first version of the checks ---
    ("4.2", "not stacked", make_env_with("return CartCrop(env)"), "the frames are not stacked"),
    ("4.2", "k ignored", make_env_with(
        "return gym.wrappers.FrameStackObservation(CartCrop(env), 4)"),
     "not a fixed number"),
    ("4.2", "newest frame first", stack(APPEND="appendleft"), "the newest frame is first"),
    ("4.2", "frames on the last axis", stack(SPACE="(h, w, k)",
                                             STACK="np.stack(self.frames, axis=-1)"),
     "the frames are on the last axis"),
    ("4.2", "stale frames after reset", stack(
        RESET="self.frames.extend([obs] * (1 if self.frames else self.k))"),
     "of the previous episode"),
    ("4.2", "zeros at reset", make_env_with(
        'return gym.wrappers.FrameStackObservation(CartCrop(env), k, padding_type="zero")'),
     "not with zeros"),
    ("4.2", "a frame skipped", stack(
        STACK="np.stack([self.frames[0]] + list(self.frames)[:-1])"),
     "is not the current window"),
    ("4.2", "no rendering", '''
    def make_pixel_env(k=4):
        return gym.wrappers.FrameStackObservation(gym.make("CartPole-v1"), k)''',
     "the frames are the observations"),
    ("4.3", "pixels not scaled", cnn(SCALE="x = obs.float()"),
     "the first convolution received values up to 255"),
    ("4.3", "uint8 not converted", cnn(SCALE="x = obs"), "raw uint8 pixels"),
    ("4.3", "scaled in place", cnn(SCALE="x = obs.float()\n            x /= 255.0"),
     "changed its input in place"),
    ("4.3", "ReLU on the output", cnn(OUT=", nn.ReLU()"), "has a ReLU after its last layer"),
    ("4.3", "tanh on the output", cnn(OUT=", nn.Tanh()"), "squashed into [-1, 1]"),
    ("4.3", "flattened size by hand", cnn(FLAT="64 * 3 * 6"), "Compute n_flat from obs_shape"),
    ("4.3", "4 frames hard-coded", cnn(IN="4"), "use obs_shape[0]"),
    ("4.3", "an MLP, no convolution", '''
    class PixelQNetwork(nn.Module):
        def __init__(self, obs_shape, n_actions, hidden=256):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(obs_shape)), hidden),
                                     nn.ReLU(), nn.Linear(hidden, n_actions))

        def forward(self, obs):
            return self.net(obs.float() / 255.0)''', "no nn.Conv2d layer"),
]


@pytest.mark.parametrize("exercise, name, source, expected", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_typical_mistake_is_named(exercise, name, source, expected):
    assert_mistake_caught("04", exercise, source, expected)


RIGHT_VARIANTS = [
    ("4.1", "grayscale as the mean of the channels",
     crop(GRAY="frame.mean(axis=2).astype(np.uint8)")),
    ("4.1", "padding with np.pad", crop(PAD="np.pad(band, ((0, 0), (half, half)))")),
    ("4.2", "a hand-written stack", stack()),
    ("4.3", "uint8 divided directly (true division gives float32)",
     cnn(SCALE="x = obs / 255")),
    ("4.3", "three convolutions, other names", '''
    class PixelQNetwork(nn.Module):
        def __init__(self, obs_shape, n_actions, hidden=128):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(obs_shape[0], 16, 5, stride=2), nn.ReLU(),
                                      nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                                      nn.Conv2d(32, 32, 3), nn.ReLU())
            with torch.no_grad():
                n_flat = self.conv(torch.zeros(1, *obs_shape)).numel()
            self.fc = nn.Linear(n_flat, hidden)
            self.out = nn.Linear(hidden, n_actions)

        def forward(self, obs):
            x = self.conv(obs.to(torch.float32).div(255)).flatten(1)
            return self.out(torch.relu(self.fc(x)))'''),
]


@pytest.mark.parametrize("exercise, name, source", RIGHT_VARIANTS,
                         ids=[f"{m[0]}-{m[1]}" for m in RIGHT_VARIANTS])
def test_a_right_variant_passes(exercise, name, source, capsys):
    import textwrap

    from .conftest import hidden_verdict

    ns = dict(namespace(solution("04")))
    exec(textwrap.dedent(source), ns)
    run_check(exercise, ns)
    assert capsys.readouterr().out.startswith(f"\u2714 Exercise {exercise} passed")
    verdict = hidden_verdict("04", exercise, ns)
    assert verdict.passed, verdict


def test_the_pixel_env_is_checked_with_the_course_crop():
    """A wrong CartCrop (4.1) costs nothing in 4.2, visible or hidden: its checks put the
    course's own crop in its place."""
    import textwrap

    from .conftest import hidden_verdict

    ns = dict(namespace(solution("04")))
    exec(textwrap.dedent(crop(GRAY="frame")), ns)  # RGB left in: 4.1 fails
    run_check("4.2", ns)
    verdict = hidden_verdict("04", "4.2", ns)
    assert verdict.passed, verdict
