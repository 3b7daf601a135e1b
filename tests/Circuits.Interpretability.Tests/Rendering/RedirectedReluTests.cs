using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

public class RedirectedReluTests
{
    /// <summary>
    /// The redirected gradient by its definition, one value at a time: per batch item, the ordinary gradient
    /// (g where x ≥ 0) if it is non-zero anywhere in the item, else g with the entries where x &lt; 0 and g &gt; 0 zeroed.
    /// </summary>
    private static float[] Reference(float[] x, float[] g, int items)
    {
        int per = x.Length / items;
        var result = new float[x.Length];
        for (int n = 0; n < items; n++)
        {
            bool alive = false;
            for (int i = n * per; i < (n + 1) * per; i++)
            {
                alive |= x[i] >= 0 && g[i] != 0;
            }

            for (int i = n * per; i < (n + 1) * per; i++)
            {
                result[i] = alive ? (x[i] >= 0 ? g[i] : 0) : (x[i] < 0 && g[i] > 0 ? 0 : g[i]);
            }
        }

        return result;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_gradient_equals_its_definition_item_by_item(int seed)
    {
        // Six items: alive, dead (all negative) with a mixed-sign gradient, dead with no gradient, alive only through a
        // zero-input entry, a random one, and dead with a positive gradient.
        var generator = new Generator((ulong)seed);
        Tensor x = randn(new long[] { 6, 3, 4, 4 }, generator: generator);
        Tensor g = randn(new long[] { 6, 3, 4, 4 }, generator: generator);
        x[1] = x[1].abs().neg() - 0.1;
        x[2] = x[2].abs().neg() - 0.1;
        g[2] = zeros(3, 4, 4);
        x[3] = full(3, 4, 4, -1f);
        x[3, 0, 0, 0] = tensor(0f);
        x[5] = x[5].abs().neg() - 0.1;
        g[5] = g[5].abs();
        Tensor leaf = x.detach().requires_grad_(true);

        Tensor y = RedirectedRelu.apply(leaf);
        y.backward(new[] { g });

        HandBuiltNet.Values(y).Should().Equal(HandBuiltNet.Values(x.relu()));
        HandBuiltNet.Values(leaf.grad!).Should().Equal(Reference(HandBuiltNet.Values(x), HandBuiltNet.Values(g), 6));
    }

    [Fact]
    public void An_all_alive_batch_gets_the_ordinary_gradient()
    {
        Tensor x = rand(new long[] { 2, 5 }, generator: new Generator(4)).sub(0.3).requires_grad_(true);
        Tensor g = randn(new long[] { 2, 5 }, generator: new Generator(5));
        RedirectedRelu.apply(x).backward(new[] { g });

        HandBuiltNet.Values(x.grad!).Should().Equal(HandBuiltNet.Values(where(x.detach().ge(0), g, zeros_like(g))));
    }

    [Fact]
    public void The_non_negative_mask_is_one_from_zero_up_including_negative_zero_as_heaviside_is()
    {
        float[] values = { -3f, -1e-38f, -float.Epsilon, -0f, 0f, float.Epsilon, 1e-38f, 2f, float.PositiveInfinity, float.NegativeInfinity, float.NaN };
        using var x = tensor(values);
        using var one = ones(Array.Empty<long>());
        float[] mask = RedirectedRelu.NonNegative(x).data<float>().ToArray();
        float[] heaviside = x.heaviside(one).data<float>().ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            // NaN lets the gradient through, as libtorch's own ReLU backward does (its test "output <= 0" is false).
            float expected = float.IsNaN(values[i]) || values[i] >= 0 ? 1f : 0f;
            mask[i].Should().Be(expected, $"x = {values[i]:R}");
            if (!float.IsNaN(values[i]))
            {
                heaviside[i].Should().Be(expected, $"the mask equals heaviside(x, 1) at x = {values[i]:R}");
            }
        }
    }
}
