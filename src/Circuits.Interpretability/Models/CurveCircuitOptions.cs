namespace Circuits.Interpretability.Models;

/// <summary>
/// The design of a <see cref="CurveCircuit"/>. The defaults give 16 line detectors (11.25° apart, 7 x 7) and
/// 16 curve detectors (22.5° apart, 13 x 13) that prefer arcs of radius 5 pixels spanning 150°.
/// </summary>
public sealed record CurveCircuitOptions
{
    /// <summary>Line detectors in the first layer, at orientations i · 180° / count. Default 16; at least 4.</summary>
    public int LineOrientations { get; init; } = 16;

    /// <summary>Curve detectors in the second layer, at orientations k · 360° / count. Default 16; at least 4.</summary>
    public int CurveOrientations { get; init; } = 16;

    /// <summary>Side of the line detectors' kernels in pixels (odd). Default 7.</summary>
    public int LineKernelSize { get; init; } = 7;

    /// <summary>Side of the curve detectors' kernels, in positions of the line layer (odd). Default 13.</summary>
    public int CurveKernelSize { get; init; } = 13;

    /// <summary>Radius of the preferred arc in pixels. Default 5.</summary>
    public double CurveRadius { get; init; } = 5;

    /// <summary>Angle the preferred arc spans on its circle, in degrees (0 to 360). Default 150.</summary>
    public double CurveArcDegrees { get; init; } = 150;

    /// <summary>
    /// Weight of the line detectors orthogonal to the arc's tangent, relative to the matching ones (a mild
    /// inhibition). Default 0.3; 0 turns it off.
    /// </summary>
    public double OrthogonalInhibition { get; init; } = 0.3;

    /// <summary>Bias of every line detector (a small negative threshold against noise). Default -0.02.</summary>
    public double LineBias { get; init; } = -0.02;

    /// <summary>Bias of every curve detector. Default 0.</summary>
    public double CurveBias { get; init; }

    /// <summary>The input size the model is documented for (height = width); any size of at least one kernel works. Default 64.</summary>
    public int InputSize { get; init; } = 64;
}
