namespace Circuits.Interpretability.Reporting;

/// <summary>Whether a set of connections leads into the unit or out of it.</summary>
public enum ConnectionDirection
{
    /// <summary>The strongest inputs: units of an earlier layer, through expanded weights into this unit.</summary>
    Inputs,

    /// <summary>The strongest outputs: units of a later layer that this unit feeds, through expanded weights.</summary>
    Outputs,
}
