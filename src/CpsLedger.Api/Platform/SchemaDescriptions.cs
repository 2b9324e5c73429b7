using System.Collections.Concurrent;
using System.ComponentModel;
using System.Reflection;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The OpenAPI document's schema and member descriptions, from what the code already says: a member's
/// <see cref="DescriptionAttribute"/> first, then its XML documentation (a property's <c>&lt;summary&gt;</c>, or a positional
/// record's <c>&lt;param&gt;</c>), and a type's <c>&lt;summary&gt;</c> for its schema. The XML documentation file is the build's
/// (<c>GenerateDocumentationFile</c>), read from next to the assembly. ASP.NET Core's own XML-comment generator is switched off
/// in the project file: it also rewrites operations' summaries from the endpoint methods' comments, which are written for
/// developers. Runs after <see cref="OpenApi"/>'s own facts, so a deprecated member keeps its "read this instead".
/// </summary>
internal sealed partial class SchemaDescriptions : IOpenApiSchemaTransformer
{
    // The key under which the exporter keeps a component's id on a schema, and the annotation it turns into the description
    // next to a $ref (Microsoft.AspNetCore.OpenApi 10: a description on the referenced schema would land on the component).
    private const string SchemaIdKey = "x-schema-id";
    private const string RefDescriptionKey = "x-ref-description";

    private static readonly Lazy<IReadOnlyDictionary<string, XElement>> Members = new(Load);

    // What appears on the wire from code the ledger does not own, so has no XML documentation here.
    private static readonly Dictionary<string, string> NotOurs = new(StringComparer.Ordinal)
    {
        ["T:System.Text.Json.JsonElement"] = "Any JSON value, as recorded.",
        ["P:Wolverine.Http.CreationResponse.Url"] = "Where the created resource is read (the same as the Location header).",
    };

    // Each component's members' descriptions, for what the exporter writes as a reference after this transformer ran (a nullable
    // member's oneOf, an enum's reference): LedgerDocument fills them in with Complete.
    private static readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> ComponentMembers = new();

    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var component = schema.Metadata?.TryGetValue(SchemaIdKey, out var id) == true && id is string { Length: > 0 } name ? name : null;
        // A component says what its type is, whether reached as a body, an item or a member; an inline member's schema says what
        // the member is.
        if ((context.JsonPropertyInfo is null || component is not null) && string.IsNullOrEmpty(schema.Description))
            schema.Description = OfType(context.JsonTypeInfo.Type);
        if (component is not null && context.JsonTypeInfo.Kind == JsonTypeInfoKind.Object)
        {
            ComponentMembers.TryAdd(component, context.JsonTypeInfo.Properties
                .Select(p => (p.Name, Text: OfMember(p.AttributeProvider)))
                .Where(p => p.Text is not null)
                .ToDictionary(p => p.Name, p => p.Text!, StringComparer.Ordinal));
        }

        if (context.JsonPropertyInfo is { } property)
        {
            if (component is not null)
            {
                if (!schema.Metadata!.ContainsKey(RefDescriptionKey) && OfMember(property.AttributeProvider) is { } onReference)
                    schema.Metadata[RefDescriptionKey] = onReference;
            }
            else if (string.IsNullOrEmpty(schema.Description))
                schema.Description = OfMember(property.AttributeProvider);
        }

        return Task.CompletedTask;
    }

    /// <summary>The members the exporter turned into references without their description: the description beside the reference, or
    /// for a nullable member on its oneOf alone.</summary>
    public static void Complete(OpenApiDocument document)
    {
        foreach (var (name, schema) in document.Components?.Schemas ?? new Dictionary<string, IOpenApiSchema>())
        {
            if (schema is not OpenApiSchema { Properties: { } properties } || !ComponentMembers.TryGetValue(name, out var members))
                continue;
            foreach (var (member, value) in properties)
            {
                // A nullable member's schema is a oneOf of null and a reference, and the exporter wrote the member's description beside
                // that reference: it stays once, on the oneOf, the member's own schema, where Scalar and generated clients read it.
                if (value is OpenApiSchema wrapper && OneOrAnyOf(wrapper).OfType<OpenApiSchemaReference>().ToList() is { Count: > 0 } references)
                {
                    if (string.IsNullOrEmpty(wrapper.Description))
                        wrapper.Description = references.Select(r => r.Description).FirstOrDefault(d => !string.IsNullOrEmpty(d));
                    foreach (var reference in references)
                        reference.Description = null;
                }

                if (!string.IsNullOrEmpty(value.Description) || !members.TryGetValue(member, out var text))
                    continue;
                switch (value)
                {
                    case OpenApiSchemaReference reference:
                        reference.Description = text;
                        break;
                    case OpenApiSchema inline:
                        inline.Description = text;
                        break;
                }
            }
        }
    }

    private static IEnumerable<IOpenApiSchema> OneOrAnyOf(OpenApiSchema schema) => (schema.OneOf ?? []).Concat(schema.AnyOf ?? []);

    /// <summary>A type's <c>&lt;summary&gt;</c>, for its schema (an enum's too).</summary>
    public static string? OfType(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (NotOurs.TryGetValue("T:" + Id(type), out var theirs))
            return theirs;
        return Members.Value.TryGetValue("T:" + Id(type), out var doc) && doc.Element("summary") is { } summary ? Text(summary) : null;
    }

    /// <summary>A member's <see cref="DescriptionAttribute"/>, its own <c>&lt;summary&gt;</c>, or its record parameter's <c>&lt;param&gt;</c>.</summary>
    private static string? OfMember(ICustomAttributeProvider? provider)
    {
        if (provider is not MemberInfo { DeclaringType: { } declaring } member)
            return null;
        if (member.GetCustomAttributes<DescriptionAttribute>(inherit: true).LastOrDefault() is { Description.Length: > 0 } attribute)
            return attribute.Description;
        var prefix = member is FieldInfo ? "F:" : "P:";
        if (NotOurs.TryGetValue(prefix + Id(declaring) + "." + member.Name, out var theirs))
            return theirs;
        if (Members.Value.TryGetValue(prefix + Id(declaring) + "." + member.Name, out var own) && own.Element("summary") is { } summary)
            return Text(summary);
        // A positional record documents its properties as the type's <param>s (the compiler copies none to the property).
        return Members.Value.TryGetValue("T:" + Id(declaring), out var type)
               && type.Elements("param").FirstOrDefault(p => (string?)p.Attribute("name") == member.Name) is { } param
            ? Text(param)
            : null;
    }

    // The documentation id of a type: namespace-qualified, nested types joined by '.', generic ones by their definition.
    private static string Id(Type type) =>
        (type.IsGenericType ? type.GetGenericTypeDefinition() : type).FullName!.Replace('+', '.');

    private static IReadOnlyDictionary<string, XElement> Load()
    {
        var assembly = typeof(SchemaDescriptions).Assembly;
        var file = Path.Combine(AppContext.BaseDirectory, assembly.GetName().Name + ".xml");
        if (!File.Exists(file))
            return new Dictionary<string, XElement>();
        return XDocument.Load(file).Descendants("member")
            .Where(m => m.Attribute("name") is not null)
            .GroupBy(m => (string)m.Attribute("name")!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
    }

    // One line of text: code as `code`, a reference by its name, a parameter by its JSON name, whitespace collapsed. A comment's
    // <remarks> are for developers and stay out of the document.
    private static string? Text(XElement element)
    {
        var text = Spaces().Replace(string.Concat(element.Nodes().Select(Render)), " ").Trim();
        return text.Length == 0 ? null : text;
    }

    private static string Render(XNode node) => node switch
    {
        XText text => text.Value,
        XElement { Name.LocalName: "c" or "code" } code => $"`{code.Value.Trim()}`",
        XElement { Name.LocalName: "see" or "seealso" } see when !see.IsEmpty => string.Concat(see.Nodes().Select(Render)),
        XElement { Name.LocalName: "see" or "seealso" } see =>
            (string?)see.Attribute("langword") ?? LastName((string?)see.Attribute("cref") ?? (string?)see.Attribute("href") ?? ""),
        XElement { Name.LocalName: "paramref" or "typeparamref" } reference => JsonName((string?)reference.Attribute("name") ?? ""),
        XElement { Name.LocalName: "para" } para => " " + string.Concat(para.Nodes().Select(Render)) + " ",
        XElement other => string.Concat(other.Nodes().Select(Render)),
        _ => "",
    };

    // A property by its JSON name and an enum value by its wire name, as the reader of the document sees them; anything else
    // (a type, a method, a constant) by its own name.
    private static string LastName(string cref)
    {
        var name = cref.Split('(')[0];
        var last = name[(name.LastIndexOf('.') + 1)..].Split('`')[0];
        if (cref.StartsWith("P:", StringComparison.Ordinal))
            return JsonName(last);
        if (cref.StartsWith("F:", StringComparison.Ordinal)
            && typeof(SchemaDescriptions).Assembly.GetType(name[2..name.LastIndexOf('.')]) is { IsEnum: true })
            return System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(last);
        return last;
    }

    private static string JsonName(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
