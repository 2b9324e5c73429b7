using System.ComponentModel.DataAnnotations;
using System.Reflection;

namespace CpsLedger.Api.Platform;

/// <summary>
/// A query parameter (or a body member) that takes one name of a closed set. The request gate refuses any other value (400 naming the parameter, as
/// it enforces every validation attribute on a query parameter) and the OpenAPI document lists the names as the parameter's
/// <c>enum</c>: both read this attribute, so the document cannot list a name the endpoint refuses or leave out one it takes. The
/// parameter stays a string: Wolverine binds a query enum with Enum.TryParse, which cannot read the API's snake_case names. On a
/// body member (a category code in an answer) it makes the member refer to the same component as the parameter's.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter | AttributeTargets.Property)]
public sealed class OneOfAttribute : ValidationAttribute
{
    // An enum's names are read loosely (any letter case, spaces around), as the endpoints parsed them; a list's exactly.
    private readonly bool _loose;

    /// <param name="source">An enum: its names as the API writes them (<see cref="LedgerJson.NamesOf"/>), read in any letter case
    /// and with spaces around, as the endpoints parse them. Or a type whose public static <paramref name="member"/> lists the names,
    /// read exactly (xunit's MemberData does the same).</param>
    /// <param name="member">The list's member when <paramref name="source"/> is not an enum.</param>
    public OneOfAttribute(Type source, string? member = null)
    {
        Source = source;
        if (source.IsEnum)
        {
            Names = LedgerJson.NamesOf(source);
            _loose = true;
        }
        else
        {
            var value = source.GetProperty(member ?? "", BindingFlags.Public | BindingFlags.Static)?.GetValue(null)
                        ?? source.GetField(member ?? "", BindingFlags.Public | BindingFlags.Static)?.GetValue(null);
            Names = value as IEnumerable<string> is { } names
                ? [.. names]
                : throw new ArgumentException($"{source.Name}.{member} is not a public static list of names.", nameof(member));
        }
    }

    /// <summary>Where the names come from: an enum, or the type holding the list.</summary>
    public Type Source { get; }

    /// <summary>
    /// A list's component in the OpenAPI document (an enum's is the enum's own name). Without one the names would stand inline, and a
    /// client generator names such a type after the parameter ("Category"), not after what it is.
    /// </summary>
    public string? Schema { get; init; }

    /// <summary>What the list's component says it is.</summary>
    public string? SchemaDescription { get; init; }

    /// <summary>The names taken, in the order the document lists them.</summary>
    public IReadOnlyList<string> Names { get; }

    // Left out or empty means no filter, as before; anything else must be a name.
    public override bool IsValid(object? value) =>
        value is not string { Length: > 0 } text
        || (_loose ? Names.Contains(text.Trim(), StringComparer.OrdinalIgnoreCase) : Names.Contains(text, StringComparer.Ordinal));

    public override string FormatErrorMessage(string name) => $"Must be one of: {string.Join(", ", Names)}.";
}
