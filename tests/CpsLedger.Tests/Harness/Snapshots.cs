using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Snapshooter;
using Snapshooter.Xunit;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// The one place that knows the snapshot library (Snapshooter today; swapping to Verify changes only this file).
/// Documents are compared as JSON with volatile values (GUIDs, timestamps, tokens) replaced by stable
/// placeholders in order of appearance. On CI (<c>CI=true</c>) a missing snapshot fails instead of being written.
/// </summary>
public static partial class Snapshots
{
    public static void MatchJson(string json, string? name = null)
    {
        var scrubbed = Scrub(JsonNode.Parse(json));
        var fullName = name is null ? Snapshot.FullName() : Snapshot.FullName(new SnapshotNameExtension(name));
        // Snapshooter keeps snapshots in a __snapshots__ folder next to the test file.
        var file = Path.Combine(fullName.FolderPath, "__snapshots__", fullName.Filename);
        if (IsCi && !File.Exists(file))
            Assert.Fail($"Snapshot {file} is missing. Run the tests locally, read the new snapshot, and commit it.");

        Snapshot.Match(Newtonsoft.Json.Linq.JToken.Parse(scrubbed.ToJsonString()), fullName);
    }

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static JsonNode Scrub(JsonNode? root)
    {
        var guids = new Dictionary<string, string>();
        var times = new Dictionary<string, string>();
        return Walk(root) ?? JsonValue.Create("null")!;

        JsonNode? Walk(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    var copy = new JsonObject();
                    foreach (var (key, value) in obj)
                        copy[key] = Walk(value);
                    return copy;
                case JsonArray array:
                    return new JsonArray(array.Select(Walk).ToArray());
                case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                    return JsonValue.Create(ScrubString(value.GetValue<string>()));
                default:
                    return node?.DeepClone();
            }
        }

        string ScrubString(string s)
        {
            s = GuidPattern().Replace(s, m => Placeholder(guids, m.Value, "Guid"));
            return TimestampPattern().IsMatch(s) ? Placeholder(times, s, "Timestamp") : s;
        }

        static string Placeholder(Dictionary<string, string> seen, string value, string kind)
        {
            if (!seen.TryGetValue(value, out var placeholder))
                seen[value] = placeholder = $"{kind}_{seen.Count + 1}";
            return placeholder;
        }
    }

    [GeneratedRegex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex GuidPattern();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")]
    private static partial Regex TimestampPattern();
}
