using System.Reflection;
using System.Runtime.Loader;
using System.Security.Cryptography;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.IO;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// A model of the user's own, named on the command line by an assembly (<c>--model-assembly PATH</c>) and a type
/// (<c>--model TYPE</c>, optional when the assembly has exactly one): a public, non-abstract class deriving from
/// TorchSharp's <c>nn.Module&lt;Tensor, Tensor&gt;</c> with a public constructor without parameters. Its weights
/// come from <c>--weights</c> (.pth or .safetensors, read by the library's loaders; every key must match), or,
/// with <c>--random-weights</c>, are the ones its constructor made.
/// </summary>
internal static class UserModel
{
    /// <summary>The input size of a user's model when <c>--input-size</c> is not given (ImageNet's 224).</summary>
    public const int DefaultInputSize = 224;

    private static readonly object Gate = new();
    private static readonly HashSet<string> ResolvedFolders = new(StringComparer.Ordinal);

    /// <summary>The catalog entry of the model type <paramref name="typeName"/> in the assembly at <paramref name="assemblyPath"/>.</summary>
    /// <exception cref="CircuitsException">The file is missing or not a .NET assembly (exit 1).</exception>
    /// <exception cref="UsageException">No type, or more than one, fits the name (exit 2); the message lists the candidates.</exception>
    public static ModelEntry Entry(string assemblyPath, string? typeName)
    {
        string full = Path.GetFullPath(assemblyPath);
        if (!File.Exists(full))
        {
            throw new CircuitsException($"--model-assembly '{assemblyPath}' does not exist; expected the .dll that holds your model's class.");
        }

        Assembly assembly = Load(full);
        Type type = FindType(assembly, typeName, assemblyPath);
        string name = type.FullName ?? type.Name;
        return new ModelEntry(name, $"{name} from {full}", DefaultInputSize, request => Create(type, request));
    }

    private static Assembly Load(string path)
    {
        lock (Gate)
        {
            Assembly? loaded = AssemblyLoadContext.Default.Assemblies.FirstOrDefault(a => !a.IsDynamic && string.Equals(a.Location, path, StringComparison.Ordinal));
            if (loaded is not null)
            {
                return loaded;
            }

            // The model shares the tool's TorchSharp and library (the default context resolves them first); its own
            // other dependencies come from its folder.
            string folder = Path.GetDirectoryName(path)!;
            if (ResolvedFolders.Add(folder))
            {
                AssemblyLoadContext.Default.Resolving += (context, name) =>
                {
                    string candidate = Path.Combine(folder, name.Name + ".dll");
                    return File.Exists(candidate) ? context.LoadFromAssemblyPath(candidate) : null;
                };
            }

            try
            {
                return AssemblyLoadContext.Default.LoadFromAssemblyPath(path);
            }
            catch (BadImageFormatException)
            {
                throw new CircuitsException($"--model-assembly '{path}' is not a .NET assembly; expected the .dll your project builds (bin/<configuration>/<framework>/<name>.dll).");
            }
            catch (FileLoadException e)
            {
                throw new CircuitsException($"--model-assembly '{path}' cannot be loaded: {e.Message}");
            }
        }
    }

    private static Type FindType(Assembly assembly, string? typeName, string assemblyPath)
    {
        Type[] types;
        try
        {
            types = assembly.GetExportedTypes();
        }
        catch (Exception e) when (e is ReflectionTypeLoadException or FileNotFoundException or FileLoadException)
        {
            throw new CircuitsException($"The types of --model-assembly '{assemblyPath}' cannot be read (a dependency is missing next to it?): {e.Message}");
        }

        List<Type> models = types.Where(IsModel).OrderBy(t => t.FullName, StringComparer.Ordinal).ToList();
        string candidates = models.Count == 0
            ? $"it has no public class deriving from nn.Module<Tensor, Tensor> with a public constructor without parameters"
            : $"its model classes are {string.Join(", ", models.Select(t => t.FullName))}";
        if (typeName is null)
        {
            return models.Count == 1
                ? models[0]
                : throw new UsageException($"--model-assembly '{assemblyPath}' needs --model TYPE to say which model to use; {candidates}.");
        }

        List<Type> named = models.Where(t => t.FullName == typeName).ToList();
        if (named.Count == 0)
        {
            named = models.Where(t => t.Name == typeName).ToList();
        }

        if (named.Count == 1)
        {
            return named[0];
        }

        Type? other = types.FirstOrDefault(t => t.FullName == typeName || t.Name == typeName);
        string why = other is null ? "is not a public type in it" : "is not a model the tool can build";
        throw new UsageException(named.Count > 1
            ? $"--model '{typeName}' names {named.Count} classes in '{assemblyPath}' ({string.Join(", ", named.Select(t => t.FullName))}); give the full name."
            : $"--model '{typeName}' {why}; {candidates}.");
    }

    private static bool IsModel(Type type) =>
        type is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }
        && typeof(nn.Module<Tensor, Tensor>).IsAssignableFrom(type)
        && type.GetConstructor(Type.EmptyTypes) is not null;

    private static LoadedModel Create(Type type, ModelRequest request)
    {
        string name = type.FullName ?? type.Name;
        if (request.WeightsPath is null && !request.RandomWeights)
        {
            throw new UsageException($"Model '{name}' needs its weights: --weights FILE (.pth or .safetensors), or --random-weights to run it with the weights its constructor made (shape and flow checks only).");
        }

        if (request.WeightsPath is not null && !File.Exists(request.WeightsPath))
        {
            throw new CircuitsException($"Weight file '{request.WeightsPath}' does not exist; expected a .pth or .safetensors file with {name}'s weights.");
        }

        nn.Module<Tensor, Tensor> model;
        try
        {
            model = (nn.Module<Tensor, Tensor>)Activator.CreateInstance(type)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw new CircuitsException($"The constructor of '{name}' failed: {CliErrors.Message(e.InnerException)}", e.InnerException);
        }

        if (request.WeightsPath is null)
        {
            return new LoadedModel(model, $"{name}/constructed", "RANDOM weights as its constructor made them (shape and flow checks only)", RandomWeights: true);
        }

        try
        {
            StateDictLoader.LoadFile(model, request.WeightsPath, strict: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }

        string hash;
        using (FileStream stream = File.OpenRead(request.WeightsPath))
        {
            hash = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
        }

        return new LoadedModel(model, $"{name}/sha256={hash[..16]}", Path.GetFullPath(request.WeightsPath));
    }
}
