using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Circuits.Interpretability.Tests.Architecture;

/// <summary>One use of a type defined in an assembly by another type defined in the same assembly.</summary>
/// <param name="From">The using type's full name; nested types (closures, iterators, lambdas) as <c>Outer+Nested</c>.</param>
/// <param name="FromNamespace">The namespace of <paramref name="From"/>'s outermost declaring type.</param>
/// <param name="To">The used type's full name.</param>
/// <param name="ToNamespace">The namespace of <paramref name="To"/>'s outermost declaring type.</param>
/// <param name="Via">Where the use is: "base type", "field f", "body of M", ...</param>
internal sealed record TypeDependency(string From, string FromNamespace, string To, string ToNamespace, string Via);

/// <summary>
/// Reads, with System.Reflection.Metadata, every place a compiled assembly's types use one another: base types,
/// interfaces, generic constraints, custom attributes, field, method, property and event signatures, locals,
/// catch clauses and every type, method and field token in method bodies. Compiler-generated nested types
/// (closures, lambdas' containers, iterator and async state machines) are types of their own and are read the
/// same way, so a use inside a lambda is reported from the closure type nested in its declaring type.
/// References to other assemblies are not reported: only types this assembly defines.
/// </summary>
internal static class TypeDependencies
{
    private static readonly Dictionary<short, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value, o => o.OperandType);

    /// <summary>Every use between two distinct types of the assembly at <paramref name="path"/>.</summary>
    public static IReadOnlyList<TypeDependency> Read(string path) => Read(File.ReadAllBytes(path));

    /// <summary>Every use between two distinct types of the assembly image <paramref name="image"/>.</summary>
    public static IReadOnlyList<TypeDependency> Read(byte[] image)
    {
        using var pe = new PEReader(ImmutableArray.Create(image));
        MetadataReader md = pe.GetMetadataReader();
        var reader = new Reader(md, pe);
        foreach (TypeDefinitionHandle type in md.TypeDefinitions)
        {
            reader.ReadType(type);
        }

        return reader.Found.Distinct().ToList();
    }

    /// <summary>Every type the assembly at <paramref name="path"/> defines, with its namespace and whether the compiler made it.</summary>
    public static IReadOnlyList<(string Name, string Namespace, bool CompilerGenerated)> Types(string path)
    {
        using var pe = new PEReader(ImmutableArray.Create(File.ReadAllBytes(path)));
        MetadataReader md = pe.GetMetadataReader();
        return md.TypeDefinitions.Select(h => (Reader.Name(md, h), Reader.Namespace(md, h), Reader.IsCompilerGenerated(md, h))).ToList();
    }

    private sealed class Reader
    {
        private readonly MetadataReader _md;
        private readonly PEReader _pe;
        private readonly Collector _collector;
        private TypeDefinitionHandle _from;
        private string _via = "";

        public Reader(MetadataReader md, PEReader pe)
        {
            _md = md;
            _pe = pe;
            _collector = new Collector(this);
        }

        public List<TypeDependency> Found { get; } = new();

        public static string Name(MetadataReader md, TypeDefinitionHandle handle)
        {
            TypeDefinition type = md.GetTypeDefinition(handle);
            string name = md.GetString(type.Name);
            TypeDefinitionHandle outer = type.GetDeclaringType();
            if (!outer.IsNil)
            {
                return Name(md, outer) + "+" + name;
            }

            string ns = md.GetString(type.Namespace);
            return ns.Length == 0 ? name : ns + "." + name;
        }

        public static string Namespace(MetadataReader md, TypeDefinitionHandle handle)
        {
            TypeDefinition type = md.GetTypeDefinition(handle);
            TypeDefinitionHandle outer = type.GetDeclaringType();
            return outer.IsNil ? md.GetString(type.Namespace) : Namespace(md, outer);
        }

        /// <summary>True for types the compiler emits on its own (<c>&lt;Module&gt;</c>, <c>&lt;PrivateImplementationDetails&gt;</c>, embedded attributes), not for closures nested in a user's type.</summary>
        public static bool IsCompilerGenerated(MetadataReader md, TypeDefinitionHandle handle)
        {
            TypeDefinition type = md.GetTypeDefinition(handle);
            if (!type.GetDeclaringType().IsNil)
            {
                return IsCompilerGenerated(md, type.GetDeclaringType());
            }

            if (md.GetString(type.Name).StartsWith('<'))
            {
                return true;
            }

            foreach (CustomAttributeHandle a in type.GetCustomAttributes())
            {
                string attribute = AttributeTypeName(md, md.GetCustomAttribute(a));
                if (attribute is "System.Runtime.CompilerServices.CompilerGeneratedAttribute" or "Microsoft.CodeAnalysis.EmbeddedAttribute")
                {
                    return true;
                }
            }

            return false;
        }

        public void ReadType(TypeDefinitionHandle handle)
        {
            _from = handle;
            TypeDefinition type = _md.GetTypeDefinition(handle);
            Use(type.BaseType, "base type");
            foreach (InterfaceImplementationHandle i in type.GetInterfaceImplementations())
            {
                Use(_md.GetInterfaceImplementation(i).Interface, "interface");
            }

            Attributes(type.GetCustomAttributes(), "attribute");
            GenericParameters(type.GetGenericParameters(), "type constraint");

            foreach (FieldDefinitionHandle f in type.GetFields())
            {
                FieldDefinition field = _md.GetFieldDefinition(f);
                _via = "field " + _md.GetString(field.Name);
                field.DecodeSignature(_collector, null);
                Attributes(field.GetCustomAttributes(), _via);
            }

            foreach (PropertyDefinitionHandle p in type.GetProperties())
            {
                PropertyDefinition property = _md.GetPropertyDefinition(p);
                _via = "property " + _md.GetString(property.Name);
                property.DecodeSignature(_collector, null);
                Attributes(property.GetCustomAttributes(), _via);
            }

            foreach (EventDefinitionHandle e in type.GetEvents())
            {
                EventDefinition ev = _md.GetEventDefinition(e);
                Use(ev.Type, "event " + _md.GetString(ev.Name));
            }

            foreach (MethodDefinitionHandle m in type.GetMethods())
            {
                ReadMethod(m);
            }
        }

        private void ReadMethod(MethodDefinitionHandle handle)
        {
            MethodDefinition method = _md.GetMethodDefinition(handle);
            string name = _md.GetString(method.Name);
            _via = "signature of " + name;
            method.DecodeSignature(_collector, null);
            Attributes(method.GetCustomAttributes(), "attribute on " + name);
            GenericParameters(method.GetGenericParameters(), "constraint on " + name);
            foreach (ParameterHandle p in method.GetParameters())
            {
                Attributes(_md.GetParameter(p).GetCustomAttributes(), "attribute on a parameter of " + name);
            }

            if (method.RelativeVirtualAddress == 0)
            {
                return;
            }

            MethodBodyBlock body = _pe.GetMethodBody(method.RelativeVirtualAddress);
            _via = "locals of " + name;
            if (!body.LocalSignature.IsNil)
            {
                _md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(_collector, null);
            }

            foreach (ExceptionRegion region in body.ExceptionRegions)
            {
                Use(region.CatchType, "catch in " + name);
            }

            ReadIL(body.GetILReader(), "body of " + name);
        }

        private void ReadIL(BlobReader il, string via)
        {
            while (il.RemainingBytes > 0)
            {
                short code = il.ReadByte();
                if (code == 0xFE)
                {
                    code = unchecked((short)(0xFE00 | il.ReadByte()));
                }

                if (!OperandTypes.TryGetValue(code, out OperandType operand))
                {
                    throw new InvalidOperationException($"Unknown IL opcode 0x{code:X4} in {Name(_md, _from)} ({via}).");
                }

                switch (operand)
                {
                    case OperandType.InlineNone:
                        break;
                    case OperandType.ShortInlineBrTarget:
                    case OperandType.ShortInlineI:
                    case OperandType.ShortInlineVar:
                        il.Offset += 1;
                        break;
                    case OperandType.InlineVar:
                        il.Offset += 2;
                        break;
                    case OperandType.InlineI:
                    case OperandType.InlineBrTarget:
                    case OperandType.ShortInlineR:
                    case OperandType.InlineString:
                        il.Offset += 4;
                        break;
                    case OperandType.InlineI8:
                    case OperandType.InlineR:
                        il.Offset += 8;
                        break;
                    case OperandType.InlineSwitch:
                        int count = il.ReadInt32();
                        il.Offset += 4 * count;
                        break;
                    case OperandType.InlineField:
                    case OperandType.InlineMethod:
                    case OperandType.InlineType:
                    case OperandType.InlineTok:
                    case OperandType.InlineSig:
                        Use(MetadataTokens.EntityHandle(il.ReadInt32()), via);
                        break;
                    default:
                        throw new InvalidOperationException($"Unexpected operand type {operand} in {Name(_md, _from)} ({via}).");
                }
            }
        }

        private void Attributes(CustomAttributeHandleCollection attributes, string via)
        {
            foreach (CustomAttributeHandle a in attributes)
            {
                Use(_md.GetCustomAttribute(a).Constructor, via);
            }
        }

        private void GenericParameters(GenericParameterHandleCollection parameters, string via)
        {
            foreach (GenericParameterHandle p in parameters)
            {
                foreach (GenericParameterConstraintHandle c in _md.GetGenericParameter(p).GetConstraints())
                {
                    Use(_md.GetGenericParameterConstraint(c).Type, via);
                }
            }
        }

        /// <summary>Records every type of this assembly that <paramref name="handle"/> names or belongs to.</summary>
        private void Use(EntityHandle handle, string via)
        {
            if (handle.IsNil)
            {
                return;
            }

            string saved = _via;
            _via = via;
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    Record((TypeDefinitionHandle)handle);
                    break;
                case HandleKind.TypeSpecification:
                    _md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(_collector, null);
                    break;
                case HandleKind.MethodDefinition:
                    Record(_md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.FieldDefinition:
                    Record(_md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.MemberReference:
                    MemberReference member = _md.GetMemberReference((MemberReferenceHandle)handle);
                    Use(member.Parent, via);
                    if (member.GetKind() == MemberReferenceKind.Method)
                    {
                        member.DecodeMethodSignature(_collector, null);
                    }
                    else
                    {
                        member.DecodeFieldSignature(_collector, null);
                    }

                    break;
                case HandleKind.MethodSpecification:
                    MethodSpecification spec = _md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    Use(spec.Method, via);
                    spec.DecodeSignature(_collector, null);
                    break;
                case HandleKind.StandaloneSignature:
                    StandaloneSignature signature = _md.GetStandaloneSignature((StandaloneSignatureHandle)handle);
                    if (signature.GetKind() == StandaloneSignatureKind.Method)
                    {
                        signature.DecodeMethodSignature(_collector, null);
                    }
                    else
                    {
                        signature.DecodeLocalSignature(_collector, null);
                    }

                    break;
                default:
                    // TypeReference (another assembly), ModuleReference and the like: not this assembly's types.
                    break;
            }

            _via = saved;
        }

        private void Record(TypeDefinitionHandle to)
        {
            if (to == _from)
            {
                return;
            }

            Found.Add(new TypeDependency(Name(_md, _from), Namespace(_md, _from), Name(_md, to), Namespace(_md, to), _via));
        }

        internal void FoundFromSignature(TypeDefinitionHandle to) => Record(to);

        private static string AttributeTypeName(MetadataReader md, CustomAttribute attribute)
        {
            EntityHandle type = attribute.Constructor.Kind switch
            {
                HandleKind.MethodDefinition => md.GetMethodDefinition((MethodDefinitionHandle)attribute.Constructor).GetDeclaringType(),
                HandleKind.MemberReference => md.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent,
                _ => default,
            };
            return type.Kind switch
            {
                HandleKind.TypeDefinition => Name(md, (TypeDefinitionHandle)type),
                HandleKind.TypeReference => md.GetString(md.GetTypeReference((TypeReferenceHandle)type).Namespace) + "." +
                                            md.GetString(md.GetTypeReference((TypeReferenceHandle)type).Name),
                _ => "",
            };
        }
    }

    /// <summary>Walks signatures and reports every type definition of this assembly that appears in them.</summary>
    private sealed class Collector : ISignatureTypeProvider<bool, object?>
    {
        private readonly Reader _reader;

        public Collector(Reader reader) => _reader = reader;

        public bool GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            _reader.FoundFromSignature(handle);
            return true;
        }

        public bool GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind)
        {
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
            return true;
        }

        public bool GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => true;

        public bool GetPrimitiveType(PrimitiveTypeCode typeCode) => true;

        public bool GetSZArrayType(bool elementType) => true;

        public bool GetArrayType(bool elementType, ArrayShape shape) => true;

        public bool GetByReferenceType(bool elementType) => true;

        public bool GetPointerType(bool elementType) => true;

        public bool GetPinnedType(bool elementType) => true;

        public bool GetGenericInstantiation(bool genericType, ImmutableArray<bool> typeArguments) => true;

        public bool GetGenericMethodParameter(object? genericContext, int index) => true;

        public bool GetGenericTypeParameter(object? genericContext, int index) => true;

        public bool GetFunctionPointerType(MethodSignature<bool> signature) => true;

        public bool GetModifiedType(bool modifier, bool unmodifiedType, bool isRequired) => true;
    }
}
