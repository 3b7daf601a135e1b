using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// ReLU whose backward pass lets a gradient through where the plain ReLU gradient would be zero for a whole
/// batch item, as Lucid does for the first steps of a render (so that a unit that starts dead can come alive).
/// With g = dLoss/dOutput (the loss is minimized) and x the input:
/// <list type="bullet">
/// <item>relu_grad = g where x ≥ 0, else 0 (the ordinary gradient);</item>
/// <item>redirected = g, except 0 where x &lt; 0 and g &gt; 0 (a step that would push x further down);</item>
/// <item>for each batch item: relu_grad if its norm is non-zero, otherwise redirected.</item>
/// </list>
/// The forward value is exactly relu(x).
/// </summary>
internal sealed class RedirectedRelu : torch.autograd.SingleTensorFunction<RedirectedRelu>
{
    public override string Name => nameof(RedirectedRelu);

    public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        ctx.save_for_backward(new List<Tensor> { x });
        return x.relu();
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor grad_output)
    {
        Tensor x = ctx.get_saved_variables()[0];
        using var scope = NewDisposeScope();
        Tensor negative = x.lt(0);
        Tensor reluGrad = grad_output.masked_fill(negative, 0);
        long[] perItem = x.shape.Select((s, i) => i == 0 ? s : 1L).ToArray();

        // Items whose ordinary gradient is non-zero somewhere keep it. The redirected gradient differs only for an item
        // whose ordinary gradient is zero everywhere while the incoming one is not; usually there is none (and for a
        // branch the objective does not read, the incoming gradient is zero too), so the common case costs three passes.
        Tensor dead = reluGrad.flatten(1).norm(1).eq(0);
        if (!dead.any().item<bool>())
        {
            return new List<Tensor> { reluGrad.MoveToOuterDisposeScope() };
        }

        Tensor redirect = dead.logical_and(grad_output.flatten(1).norm(1).gt(0));
        if (!redirect.any().item<bool>())
        {
            return new List<Tensor> { reluGrad.MoveToOuterDisposeScope() };
        }

        Tensor redirected = grad_output.masked_fill(negative.logical_and(grad_output.gt(0)), 0);
        return new List<Tensor> { where(redirect.reshape(perItem), redirected, reluGrad).MoveToOuterDisposeScope() };
    }
}
