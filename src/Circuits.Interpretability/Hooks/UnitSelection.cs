using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>Checks channels and positions against a layer's activation and selects or masks them.</summary>
internal static class UnitSelection
{
    /// <summary>Throws when a channel or position lies outside an activation of shape N x C (x H x W).</summary>
    public static void Validate(string layer, long[] shape, IReadOnlyList<int>? channels, IReadOnlyList<(int Y, int X)>? positions)
    {
        if (shape.Length < 2)
        {
            throw new UnitOutOfRangeException(
                $"Layer '{layer}' has output shape [{string.Join(", ", shape)}], which has no channel dimension; expected N x C or N x C x H x W.");
        }

        long channelCount = shape[1];
        foreach (int c in channels ?? Array.Empty<int>())
        {
            if (c < 0 || c >= channelCount)
            {
                throw new UnitOutOfRangeException(
                    $"Channel {c} is out of range for layer '{layer}', which has {channelCount} channels (0 to {channelCount - 1}).");
            }
        }

        if (positions is null || positions.Count == 0)
        {
            return;
        }

        if (shape.Length != 4)
        {
            throw new UnitOutOfRangeException(
                $"Layer '{layer}' has output shape [{string.Join(", ", shape)}], which has no spatial positions; address it as '{layer}:channel'.");
        }

        foreach (var (y, x) in positions)
        {
            if (y < 0 || y >= shape[2] || x < 0 || x >= shape[3])
            {
                throw new UnitOutOfRangeException(
                    $"Position ({y},{x}) is out of range for layer '{layer}', whose activation is {shape[2]} x {shape[3]} (rows 0 to {shape[2] - 1}, columns 0 to {shape[3] - 1}).");
            }
        }
    }

    /// <summary>
    /// A boolean mask broadcastable to <paramref name="shape"/> that is true at the chosen channels (all when
    /// null) and positions (all when null).
    /// </summary>
    public static Tensor Mask(long[] shape, IReadOnlyList<int>? channels, IReadOnlyList<(int Y, int X)>? positions, Device device)
    {
        long[] maskShape = shape.Select((s, i) => i == 0 ? 1L : s).ToArray();
        using var scope = NewDisposeScope();
        Tensor channelMask;
        var channelShape = maskShape.Select((s, i) => i == 1 ? s : 1L).ToArray();
        if (channels is null)
        {
            channelMask = ones(channelShape, ScalarType.Bool, device);
        }
        else
        {
            var flags = new bool[shape[1]];
            foreach (int c in channels)
            {
                flags[c] = true;
            }

            channelMask = tensor(flags, device: device).reshape(channelShape);
        }

        Tensor mask = channelMask;
        if (positions is not null && shape.Length == 4)
        {
            var flags = new bool[shape[2] * shape[3]];
            foreach (var (y, x) in positions)
            {
                flags[(y * shape[3]) + x] = true;
            }

            Tensor spatial = tensor(flags, device: device).reshape(1, 1, shape[2], shape[3]);
            mask = channelMask.logical_and(spatial);
        }

        return mask.expand(maskShape).contiguous().MoveToOuterDisposeScope();
    }
}
