namespace Circuits.Interpretability.Analysis.Equivariance;

/// <summary>Settings of <see cref="Equivariance.MatchRotations"/>.</summary>
public sealed record EquivarianceOptions
{
    /// <summary>
    /// For weights whose input channels are themselves a rotation family (for example curve weights over
    /// line detectors): rotating also moves input channel c to channel (c + shift) mod C. Default 0 (pixels or
    /// other inputs that rotate by themselves).
    /// </summary>
    public int InputChannelShift { get; init; }

    /// <summary>
    /// Only pixels inside the inscribed disc (the part a rotation keeps) are compared; this shrinks or grows
    /// that disc's radius, as a fraction of half the smaller side. Default 1.
    /// </summary>
    public double DiscFraction { get; init; } = 1;
}
