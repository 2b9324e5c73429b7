using System.Text.Json;
using System.Text.Json.Serialization;

namespace CpsLedger.Tests.Contract.Generated;

/// <summary>
/// The one setting a portal adds to the generated client: enums by their documented names (snake_case), also inside lists,
/// where NSwag puts no converter of its own.
/// </summary>
public partial class LedgerClient
{
    static partial void UpdateJsonSerializerSettings(JsonSerializerOptions settings) =>
        settings.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
}
