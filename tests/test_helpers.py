"""Environments, evaluation, plots and videos."""

import base64
import html.parser

import numpy as np
import pytest
import torch

from dqn_helpers import evaluate, make_env, set_seed, video
from dqn_helpers.plots import LivePlot, moving_average


def test_make_env_names_close_matches_for_an_unknown_id():
    with pytest.raises(ValueError, match=r"Unknown environment id 'Cartpole-v1'.*'CartPole-v1'"):
        make_env("Cartpole-v1")


def test_make_env_seeds_the_env_and_its_action_space():
    a, b = make_env("CartPole-v1", seed=3), make_env("CartPole-v1", seed=3)
    assert np.array_equal(a.reset()[0], b.reset()[0])
    assert [a.action_space.sample() for _ in range(20)] == [b.action_space.sample() for _ in range(20)]
    c = make_env("CartPole-v1", seed=4)
    assert not np.array_equal(a.reset()[0], c.reset()[0])


def test_make_env_knows_atari_ids():
    env = make_env("ALE/Breakout-v5", seed=0, frameskip=1)
    assert env.observation_space.shape == (210, 160, 3)
    env.close()


def test_set_seed_repeats_torch_and_numpy():
    set_seed(5)
    first = (torch.rand(3), np.random.rand(3))
    set_seed(5)
    assert torch.equal(first[0], torch.rand(3)) and np.array_equal(first[1], np.random.rand(3))
    with pytest.raises(TypeError):
        set_seed("5")


def test_evaluate_repeats_with_the_same_seed_and_checks_its_arguments():
    policy = lambda obs: int(obs[2] > 0)  # noqa: E731
    a = evaluate(policy, "CartPole-v1", episodes=5, seed=1)
    assert a.shape == (5,) and np.array_equal(a, evaluate(policy, "CartPole-v1", 5, seed=1))
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="episodes must be a positive int"):
            evaluate(policy, "CartPole-v1", episodes=bad)
    with pytest.raises(ValueError, match=r"returned 2 .*expected an action in Discrete\(2\)"):
        evaluate(lambda obs: 2, "CartPole-v1", episodes=1)
    with pytest.raises(ValueError, match="Unknown environment id"):
        evaluate(policy, "NoSuchEnv-v0", episodes=1)


def test_evaluate_plays_a_q_network_greedily_in_a_batch():
    class LeanQ(torch.nn.Module):  # Q(s, right) = angle: greedy = push where the pole leans
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, obs):
            return torch.stack([torch.zeros(len(obs)), obs[:, 2]], dim=1) + self.dummy

    batched = evaluate(LeanQ(), "CartPole-v1", episodes=8, seed=0)
    one_by_one = evaluate(lambda obs: int(obs[2] > 0), "CartPole-v1", episodes=8, seed=0)
    assert np.array_equal(batched, one_by_one)
    with pytest.raises(ValueError, match=r"returned shape \(8, 3\).*expected \(8, 2\)"):
        evaluate(torch.nn.Linear(4, 3), "CartPole-v1", episodes=8)


def test_cartpole_is_evaluated_by_gymnasiums_vector_env_with_the_same_returns(monkeypatch):
    from dqn_helpers import evaluation

    def lean(angular_velocity):  # push where the pole leans, and where it is falling
        q_network = torch.nn.Linear(4, 2)
        with torch.no_grad():
            q_network.weight.zero_(), q_network.bias.zero_()
            q_network.weight[1, 2], q_network.weight[1, 3] = 1.0, angular_velocity
        return q_network

    balances, wobbles = lean(0.3), lean(0.01)  # 500 steps (the time limit); falls in 49 to 155
    cases = [(balances, dict(episodes=12, seed=5)), (balances, dict(episodes=12, seed=5, epsilon=0.2)),
             (wobbles, dict(episodes=12, seed=5)), (wobbles, dict(episodes=7, seed=40, max_steps=60))]
    vectorised = []
    with monkeypatch.context() as patch:  # the vector env alone: a one-by-one env would fail
        patch.setattr(evaluation, "_OneByOne", None)
        for q_network, case in cases:
            vectorised.append(evaluate(q_network, "CartPole-v1", **case))
    monkeypatch.setattr(evaluation, "VECTORISED", {})  # one gymnasium env per episode
    for (q_network, case), returns in zip(cases, vectorised):
        assert np.array_equal(returns, evaluate(q_network, "CartPole-v1", **case)), case
    assert set(vectorised[0]) == {500.0} and vectorised[2].max() < 500
    assert not np.array_equal(vectorised[0], vectorised[1])  # epsilon changed some episodes
    assert vectorised[3].max() == 60


def test_video_decodes_back_to_the_frames_it_was_given():
    rng = np.random.default_rng(0)
    frames = [np.full((33, 47, 3), 10 * i, dtype=np.uint8) for i in range(25)]  # odd size
    frames[3][:10, :10] = rng.integers(0, 255, (10, 10, 3))
    decoded = video.decode_video(video.encode_video(frames, fmt="mp4"))
    assert len(decoded) == 25
    assert decoded[0].shape == (34, 48, 3)  # padded to even for H.264
    for original, back in zip(frames, decoded):
        assert np.abs(back[:33, :47].astype(int)[12:, 12:] - original[12:, 12:]).mean() < 3


def test_recorded_episode_video_has_one_frame_per_step_plus_the_first():
    frames = video.record_episode(lambda obs: 0, "CartPole-v1", seed=0)
    returns = evaluate(lambda obs: 0, "CartPole-v1", episodes=1, seed=0)
    assert len(frames) == int(returns[0]) + 1 and frames[0].shape == (400, 600, 3)
    html = video.show_video(frames).data
    assert html.startswith("<video") and "data:video/mp4;base64," in html
    assert len(video.decode_video(video.encode_video(frames))) == len(frames)


def test_gif_when_ffmpeg_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(video, "_ffmpeg_available", lambda: False)
    frames = [np.full((20, 20, 3), 40 * i, dtype=np.uint8) for i in range(5)]
    assert "data:image/gif;base64," in video.show_video(frames).data
    path = video.save_video(frames, tmp_path / "a.mp4")
    assert path.suffix == ".gif" and len(video.decode_video(path.read_bytes())) == 5


class Sources(html.parser.HTMLParser):
    """The attributes of each <source> tag of an HTML snippet."""

    def __init__(self, html_text):
        super().__init__()
        self.found = []
        self.feed(html_text)

    def handle_starttag(self, tag, attrs):
        if tag == "source":
            self.found.append(dict(attrs))


def codec_of(data: bytes, tmp_path) -> str:
    import imageio.v2 as imageio

    path = tmp_path / "probe.mp4"  # ffmpeg recognises WebM by its content too
    path.write_bytes(data)
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return reader.get_meta_data()["codec"]


def test_show_video_offers_webm_then_mp4_and_both_decode(tmp_path):
    frames = [np.zeros((30, 40, 3), np.uint8) for _ in range(12)]
    for i, frame in enumerate(frames):  # a white square moving right on black
        frame[10:20, 2 * i:2 * i + 10] = 255
    sources = Sources(video.show_video(frames).data).found
    assert [s["type"] for s in sources] == ['video/webm; codecs="vp9"', "video/mp4"]
    for source, mime, codec in zip(sources, ["video/webm", "video/mp4"], ["vp9", "h264"]):
        prefix = f"data:{mime};base64,"
        assert source["src"].startswith(prefix)
        data = base64.b64decode(source["src"][len(prefix):])
        assert codec_of(data, tmp_path) == codec
        decoded = video.decode_video(data)
        assert len(decoded) == len(frames) and decoded[0].shape == (30, 40, 3)
        for original, back in zip(frames, decoded):
            assert np.abs(back.astype(int) - original).mean() < 4


def test_show_video_without_vp9_offers_mp4_alone(monkeypatch):
    monkeypatch.setattr(video, "_can_encode", lambda fmt: fmt == "mp4")
    frames = [np.full((20, 20, 3), 40 * i, dtype=np.uint8) for i in range(5)]
    assert [s["type"] for s in Sources(video.show_video(frames).data).found] == ["video/mp4"]


def test_video_refuses_bad_frames():
    with pytest.raises(ValueError, match="empty"):
        video.encode_video([])
    with pytest.raises(ValueError, match="same shape"):
        video.encode_video([np.zeros((4, 4, 3), np.uint8), np.zeros((6, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        video.encode_video([np.zeros((4, 4, 3))])


def test_side_by_side_holds_the_last_frame_of_the_shorter_episode():
    left = [np.zeros((10, 6, 3), np.uint8)] * 3
    right = [np.full((8, 4, 3), 7, np.uint8)] * 5
    both = video.side_by_side(left, right)
    assert len(both) == 5 and both[0].shape == (10, 6 + 8 + 4, 3)


def test_moving_average_and_live_plot(tmp_path):
    assert np.allclose(moving_average([2, 4, 6, 8], 2), [2, 3, 5, 7])
    plot = LivePlot(solved_at=475)
    for r in range(150):
        plot.add_episode(r)
    plot.add_eval(100.0)
    path = plot.save(tmp_path / "returns.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
