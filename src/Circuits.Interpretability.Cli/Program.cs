using Circuits.Interpretability.Cli;

return await CircuitsCli.RunAsync(args, Console.Out, Console.Error);
