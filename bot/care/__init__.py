"""Care and privacy: identifiers, distress and safeguarding cues."""
