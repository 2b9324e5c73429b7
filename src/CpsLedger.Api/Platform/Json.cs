using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The wire format of every request and response (ASP.NET Core's JSON options, which Wolverine.Http uses too). Reading is
/// strict, so that what reaches an endpoint is exactly what the client wrote: a member the record requires (a constructor
/// parameter without a default) must be present, <c>null</c> only where the type says <c>?</c>, each member at most once,
/// member names spelled exactly as documented (camelCase), no member the request does not have, enums by their documented
/// names only, no control characters in text, no nil UUID.
/// The message of a refusal comes from <see cref="RequestGate"/>, which names the field.
/// </summary>
public static class LedgerJson
{
    public static void Configure(JsonSerializerOptions options)
    {
        // ASP.NET Core's web defaults match member names in any case; the contract's schemas name each member exactly
        // (additionalProperties: false), so "CompanyName" is a member the request does not have, not companyName.
        options.PropertyNameCaseInsensitive = false;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        options.AllowDuplicateProperties = false;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.Converters.Add(new SnakeCaseEnumConverter());
        options.Converters.Add(new TextConverter(multiLine: false));
        options.Converters.Add(new IdConverter());
        options.Converters.Add(new DecimalConverter());
        options.TypeInfoResolver = (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(Modify);
    }

    // Writing respects the nullable annotations as reading does, so the schemas the document derives from them are true of
    // the responses: a response member declared without '?' is never null (the contract tests hold every response to it).
    private static void Modify(JsonTypeInfo type)
    {
        foreach (var property in type.Properties)
        {
            if (property.PropertyType == typeof(string) && property.AttributeProvider?.IsDefined(typeof(MultiLineTextAttribute), true) == true)
                property.CustomConverter = new TextConverter(multiLine: true);
            // A member the type allows to be null may be left out (absent and null mean the same); only what the domain cannot do
            // without is required: a constructor parameter that is neither nullable nor has a default.
            if (property.IsRequired && property.IsSetNullable && property.AssociatedParameter is not null)
                property.IsRequired = false;
        }
    }

    /// <summary>A character as an error message quotes it: a control character (a NUL) by its code point, since printed as itself it
    /// shows as nothing.</summary>
    public static string Quoted(char c) => char.IsControl(c) ? $"U+{(int)c:X4}" : $"'{c}'";

    /// <summary>Text as an error message quotes it, each control character in it by its code point.</summary>
    public static string ControlsNamed(string value) =>
        string.Concat(value.Select(c => char.IsControl(c) ? $"<U+{(int)c:X4}>" : c.ToString()));

    /// <summary>Whether a character may stand in text the ledger stores (tab and line breaks only in multi-line text).</summary>
    public static string? RefuseText(string text, bool multiLine)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\t' or '\n' or '\r')
            {
                if (!multiLine)
                    return "Must be a single line of text: tabs and line breaks are not allowed here.";
                continue;
            }

            if (char.IsControl(c))
                return $"Must not contain control characters (found U+{(int)c:X4} at position {i + 1}).";
            // Bidirectional embeddings, overrides and isolates reorder how text is displayed ("Trojan source").
            if (c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069')
                return $"Must not contain bidirectional control characters (found U+{(int)c:X4} at position {i + 1}).";
            if (c is '\uFFFE' or '\uFFFF')
                return $"Must not contain Unicode noncharacters (found U+{(int)c:X4} at position {i + 1}).";
            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }

                return "Must be valid Unicode text.";
            }
        }

        return InvisibleOnly(text) is { } at
            ? $"Must not be empty or blank: it holds only invisible characters (U+{(int)text[at]:X4} at position {at + 1})."
            : null;
    }

    // Zero-width and other format characters (U+200B, U+2060, U+FEFF, ...) are no white space to .NET, so text made of them
    // and white space alone passed "not blank" and was stored as a value that shows as nothing. Inside other text they are
    // left alone (joiners belong to some scripts and emoji). Returns the first one's index.
    private static int? InvisibleOnly(string text)
    {
        int? first = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.GetUnicodeCategory(text[i]) == System.Globalization.UnicodeCategory.Format)
                first ??= i;
            else if (!char.IsWhiteSpace(text[i]))
                return null;
        }

        return first;
    }

    /// <summary>Refused input whose message is written for the client (the JSON path is added by the gate).</summary>
    public sealed class FieldException(string message) : JsonException(message);

    private sealed class TextConverter(bool multiLine) : JsonConverter<string>
    {
        public override bool HandleNull => false;

        public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String)
                throw new JsonException();
            var text = reader.GetString()!;
            return RefuseText(text, multiLine) is { } refusal ? throw new FieldException(refusal) : text;
        }

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

        public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var text = reader.GetString()!;
            return RefuseText(text, multiLine: false) is { } refusal ? throw new FieldException(refusal) : text;
        }

        public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
            writer.WritePropertyName(value);
    }

    private sealed class IdConverter : JsonConverter<Guid>
    {
        public override Guid Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String || !reader.TryGetGuid(out var id))
                throw new JsonException();
            return id == Guid.Empty ? throw new FieldException(NilId) : id;
        }

        public override void Write(Utf8JsonWriter writer, Guid value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }

    public const string NilId = "Must not be the nil UUID (all zeros).";

    /// <summary>A number no field of the ledger takes: past what a decimal holds, in size or in digits.</summary>
    public const string NumberOutOfRange = "Is out of range: far larger (or more precise) than any number a field here takes.";

    /// <summary>
    /// A decimal is read only when the literal is exactly what the decimal holds. The default reader rounds a literal with more
    /// digits than a decimal has (1.000000000000000000000000000001 becomes 1.0000000000000000000000000000, 1e-400 becomes 0)
    /// before any rule sees it, so an amount the client did not write was recorded, with a scale of 28 that every total after
    /// it carried. A size past the decimal's is refused by the reader already (the gate says so with the same words).
    /// </summary>
    private sealed class DecimalConverter : JsonConverter<decimal>
    {
        public override decimal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDecimal(out var value))
                throw new JsonException();
            var literal = reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan.ToArray();
            return HeldExactly(System.Text.Encoding.ASCII.GetString(literal)) ? value : throw new FieldException(NumberOutOfRange);
        }

        public override void Write(Utf8JsonWriter writer, decimal value, JsonSerializerOptions options) => writer.WriteNumberValue(value);

        // A JSON number (-?int(.frac)?(e[+-]?exp)?) is held exactly by a decimal when, without its leading and trailing zeros,
        // it has at most 28 significant digits and at most 28 decimal places.
        private static bool HeldExactly(string literal)
        {
            var e = literal.IndexOfAny(['e', 'E']);
            var exponent = 0L;
            if (e >= 0 && !long.TryParse(literal.AsSpan(e + 1), System.Globalization.NumberStyles.AllowLeadingSign,
                    System.Globalization.CultureInfo.InvariantCulture, out exponent))
                return false;
            var mantissa = (e < 0 ? literal : literal[..e]).TrimStart('-');
            var dot = mantissa.IndexOf('.');
            var digits = (dot < 0 ? mantissa : mantissa.Remove(dot, 1)).TrimStart('0');
            var significant = digits.TrimEnd('0');
            if (significant.Length == 0)
                return true;
            var scale = (dot < 0 ? 0 : mantissa.Length - dot - 1) - exponent - (digits.Length - significant.Length);
            return significant.Length <= 28 && scale <= 28;
        }
    }

    /// <summary>
    /// Enums are written as their snake_case names and read only by those names (in any letter case): never by number,
    /// never by the C# member name, never a name that is not defined.
    /// </summary>
    private sealed class SnakeCaseEnumConverter : JsonConverterFactory
    {
        public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum;

        public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
            (JsonConverter)Activator.CreateInstance(typeof(EnumConverter<>).MakeGenericType(typeToConvert))!;
    }

    private sealed class EnumConverter<T> : JsonConverter<T> where T : struct, Enum
    {
        private static readonly Dictionary<string, T> ByName =
            Enum.GetValues<T>().ToDictionary(NameOf, v => v, StringComparer.OrdinalIgnoreCase);
        private static readonly Dictionary<T, JsonEncodedText> Encoded = Enum.GetValues<T>().ToDictionary(v => v, v => JsonEncodedText.Encode(NameOf(v)));

        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.String && ByName.TryGetValue(reader.GetString()!, out var value)
                ? value
                : throw new JsonException();

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
        {
            if (Encoded.TryGetValue(value, out var name))
                writer.WriteStringValue(name);
            else
                throw new JsonException($"{typeof(T).Name} has no member {value}.");
        }

        public override T ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            ByName.TryGetValue(reader.GetString()!, out var value) ? value : throw new JsonException();

        public override void WriteAsPropertyName(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
            writer.WritePropertyName(Encoded[value]);
    }

    private static readonly ConcurrentDictionary<Type, string[]> Names = new();

    /// <summary>An enum member's name on the wire.</summary>
    public static string NameOf<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    /// <summary>Every name an enum has on the wire, in declaration order.</summary>
    public static IReadOnlyList<string> NamesOf(Type enumType) => Names.GetOrAdd(enumType, t =>
        [.. Enum.GetNames(t).Select(JsonNamingPolicy.SnakeCaseLower.ConvertName)]);
}

/// <summary>A text field that may span lines (tab, CR and LF allowed); every other text field is a single line.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class MultiLineTextAttribute : Attribute;
