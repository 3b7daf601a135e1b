using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

public class RedirectedReluTests
{
    /// <summary>
    /// The redirected gradient by its definition, one value at a time: per batch item, the ordinary gradient
    /// (g where x &gt; 0, as libtorch's ReLU) if it is non-zero anywhere in the item, else g with the entries where
    /// x ≤ 0 and g &gt; 0 zeroed.
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
                alive |= x[i] > 0 && g[i] != 0;
            }

            for (int i = n * per; i < (n + 1) * per; i++)
            {
                result[i] = alive ? (x[i] > 0 ? g[i] : 0) : (x[i] <= 0 && g[i] > 0 ? 0 : g[i]);
            }
        }

        return result;
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    public void The_gradient_equals_its_definition_item_by_item(int seed, bool layerOutputGiven)
    {
        // Six items: alive, dead (all negative) with a mixed-sign gradient, dead with no gradient, dead but for one
        // zero-input entry (x = 0 counts as dead, as in libtorch's ReLU gradient), a random one, and dead with a
        // positive gradient. The redirected ReLU either computes relu(x) itself or takes the layer's output.
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

        Tensor y = layerOutputGiven ? RedirectedRelu.Redirect(leaf, leaf.relu()) : RedirectedRelu.apply(leaf);
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

        HandBuiltNet.Values(x.grad!).Should().Equal(HandBuiltNet.Values(where(x.detach().gt(0), g, zeros_like(g))));
    }

    [Fact]
    public void An_all_alive_batch_gets_libtorchs_own_relu_gradient_zeros_included()
    {
        // The ordinary gradient is libtorch's ReLU gradient value for value, exact zeros and negative zeros included.
        Tensor x = tensor(new float[] { -3f, -0f, 0f, 1e-38f, 2f, -1f, 0f, 5f }).reshape(2, 4);
        Tensor g = randn(new long[] { 2, 4 }, generator: new Generator(6));
        Tensor ours = x.detach().requires_grad_(true), theirs = x.detach().requires_grad_(true);
        RedirectedRelu.Redirect(ours, ours.relu()).backward(new[] { g });
        theirs.relu().backward(new[] { g });

        HandBuiltNet.Values(ours.grad!).Should().Equal(HandBuiltNet.Values(theirs.grad!));
    }

    [Fact]
    public void The_layers_own_output_graph_gets_no_gradient_and_the_input_gets_the_redirected_one()
    {
        // The layer's output is reused for its values only: the gradient reaches the input through the redirected rule
        // (here a dead item whose gradient pushes x up), not through the plain ReLU node that produced the output.
        Tensor x = full(1, 3, -1f).requires_grad_(true);
        Tensor layerOutput = x.relu();
        (-RedirectedRelu.Redirect(x, layerOutput)).sum().backward();

        HandBuiltNet.Values(x.grad!).Should().Equal(new[] { -1f, -1f, -1f });
    }
}
