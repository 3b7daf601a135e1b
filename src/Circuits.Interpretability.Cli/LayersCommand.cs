using System.CommandLine;
using System.Text.Json;
using Circuits.Interpretability.Hooks;

namespace Circuits.Interpretability.Cli;

/// <summary>The <c>layers</c> verb: every layer of the model with its type, output shape and parameter count.</summary>
internal static class LayersCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var command = new Command("layers", "List the model's layers (module paths) with their types, output shapes and parameter counts.");
        command.SetAction(parse =>
        {
            using ModelSession session = ModelSession.Open(parse, error);
            int pixels = session.InputSize;
            LayerTable table = session.Layers;
            if (session.Json)
            {
                output.WriteLine(session.JsonResult(new
                {
                    inputShape = new[] { 1, 3, pixels, pixels },
                    totalParameters = table.TotalParameters,
                    layers = table.Select(l => new { path = l.Path, type = l.TypeName, outputShape = l.OutputShape, parameters = l.ParameterCount, ran = l.Ran, capturable = l.Capturable }),
                }));
            }
            else
            {
                output.WriteLine($"{session.Entry.Description}; weights: {session.Loaded.WeightsSource}; input 1 x 3 x {pixels} x {pixels}; device {session.DeviceName}");
                output.WriteLine(table.ToTable());
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
